"""Read models.yaml and turn any schema violation into one readable line."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from configspec.errors import ConfigspecError
from configspec.registry.schema import Registry

DEFAULT_REGISTRY = Path("models.yaml")


def _first_error(path: Path, error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "top level"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key (check the spelling; see README 'models.yaml format')"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{path}: {where}: {message}{more}"


def load_registry(path: Path = DEFAULT_REGISTRY) -> Registry:
    path = Path(path)
    if not path.is_file():
        raise ConfigspecError(f"model registry {path} not found; pass --models PATH")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigspecError(
            f"{path}:{where} is not valid YAML: {exc.__class__.__name__}"
        ) from exc
    if not isinstance(data, dict):
        raise ConfigspecError(f"{path}: expected a mapping with 'schema_version' and 'models'")
    try:
        return Registry.model_validate(data)
    except ValidationError as exc:
        raise ConfigspecError(_first_error(path, exc)) from exc
