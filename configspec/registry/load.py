"""Read models.yaml and turn any schema violation into one readable line."""

from __future__ import annotations

from pathlib import Path

from configspec.errors import ConfigspecError
from configspec.registry.schema import Registry
from configspec.yaml_config import load_yaml_model

DEFAULT_REGISTRY = Path("models.yaml")


def load_registry(path: Path = DEFAULT_REGISTRY) -> Registry:
    path = Path(path)
    if not path.is_file():
        raise ConfigspecError(f"model registry {path} not found; pass --models PATH")
    return load_yaml_model(
        path, Registry, expected="a mapping with 'schema_version' and 'models'",
        docs_hint="README 'models.yaml format'",
    )  # fmt: skip
