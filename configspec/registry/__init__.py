"""The model registry: models.yaml, validated by a schema."""

from configspec.registry.load import load_registry
from configspec.registry.schema import ModelEntry, Registry, Source

__all__ = ["ModelEntry", "Registry", "Source", "load_registry"]
