"""Read and write profile files: JSON with a kind and a schema version, written atomically."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from configspec.atomic_io import write_text_atomic
from configspec.errors import ConfigspecError

P = TypeVar("P", bound=BaseModel)


def save_profile(profile: BaseModel, path: Path) -> Path:
    write_text_atomic(Path(path), profile.model_dump_json(indent=1) + "\n")
    return Path(path)


def load_profile(path: Path, model: type[P]) -> P:
    """Load `path` as `model`, refusing other kinds and schema versions with one clear line."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigspecError(f"profile {path} not found") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigspecError(f"{path} is not a JSON profile (corrupt or truncated?)") from exc
    fields = model.model_fields
    want_kind = fields["kind"].default if "kind" in fields else None
    want_version = fields["schema_version"].default
    if not isinstance(data, dict):
        raise ConfigspecError(f"{path} is not a configspec profile")
    if want_kind and data.get("kind") != want_kind:
        raise ConfigspecError(f"{path} is a {data.get('kind')!r} profile, expected {want_kind!r}")
    if data.get("schema_version") != want_version:
        raise ConfigspecError(
            f"{path} has schema version {data.get('schema_version')}, this configspec reads "
            f"version {want_version}; re-run the profiling step with this version"
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigspecError(f"{path}: invalid profile at {where}: {first['msg']}") from exc


def default_output(device: str, kind: str) -> Path:
    """results/<device>/<kind>-<local date>.json: `recommend` finds profiles by this pattern."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("results") / device / f"{kind}-{stamp}.json"
