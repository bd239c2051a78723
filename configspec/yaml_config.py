"""Read a user's YAML settings file into a pydantic model, every mistake as one readable line."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from configspec.errors import ConfigspecError

M = TypeVar("M", bound=BaseModel)


def first_error_line(path: Path, error: ValidationError, docs_hint: str) -> str:
    """`path: where: what (and N more)`; unknown keys point at the format's documentation."""
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "top level"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = f"unknown key (check the spelling; see {docs_hint})"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{path}: {where}: {message}{more}"


def load_yaml_model(
    path: Path, model: type[M], *, expected: str, docs_hint: str, empty_ok: bool = False
) -> M:
    """Parse `path` as YAML and validate it as `model`; `expected` describes the top level."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigspecError(
            f"{path}:{where} is not valid YAML: {exc.__class__.__name__}"
        ) from exc
    if data is None and empty_ok:
        data = {}
    if not isinstance(data, dict):
        raise ConfigspecError(f"{path}: expected {expected}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigspecError(first_error_line(path, exc, docs_hint)) from exc
