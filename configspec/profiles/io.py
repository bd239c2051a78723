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
    remedy = "re-run the profiling step with this version"
    return validate_document(data, model, str(path), remedy, "profile")


def validate_document(data: object, model: type[P], where: str, remedy: str, what: str) -> P:
    """`data` (a loaded JSON document) as `model`, refusing another kind or schema version with
    one line ending in `remedy`; profiles and the recommendations file alike (`what` it is)."""
    fields = model.model_fields
    want_kind = fields["kind"].default if "kind" in fields else None
    want_version = fields["schema_version"].default
    if not isinstance(data, dict):
        raise ConfigspecError(f"{where} is not a configspec {what}")
    if want_kind and data.get("kind") != want_kind:
        raise ConfigspecError(f"{where} is a {data.get('kind')!r} {what}, expected {want_kind!r}")
    if data.get("schema_version") != want_version:
        raise ConfigspecError(
            f"{where} has schema version {data.get('schema_version')}, this configspec reads "
            f"version {want_version}; {remedy}"
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        at = ".".join(str(p) for p in first["loc"])
        raise ConfigspecError(f"{where}: invalid {what} at {at}: {first['msg']}") from exc


def default_output(device: str, kind: str) -> Path:
    """results/<device>/<kind>-<local date>.json (recommend and report find profiles by content)."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("results") / device / f"{kind}-{stamp}.json"
