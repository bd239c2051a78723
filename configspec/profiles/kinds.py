"""The profile kinds, in one table: the schema that reads each kind and the command that makes it.

A file's kind is read from its content (`kind`), never from its name, so any layout works.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from configspec.errors import ConfigspecError
from configspec.profiles.alignment import AlignmentProfile
from configspec.profiles.drafting import DeviceProfile
from configspec.profiles.fleet import FleetProfile
from configspec.profiles.io import load_profile
from configspec.profiles.verification import VerificationProfile


@dataclass(frozen=True)
class ProfileKind:
    name: str
    model: type[BaseModel]
    made_by: str  # the command that writes it, for "how to fix" messages


PROFILE_KINDS: dict[str, ProfileKind] = {
    k.name: k
    for k in (
        ProfileKind("drafting", DeviceProfile, "configspec profile"),
        ProfileKind("alignment", AlignmentProfile, "configspec align"),
        ProfileKind("verification", VerificationProfile, "configspec verify-latency"),
        ProfileKind("fleet", FleetProfile, "configspec fleet"),
    )
}


def read_kind(path: Path) -> str | None:
    """The `kind` field of a JSON file; None when it is not a JSON object (ConfigspecError when
    it cannot be read or parsed)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigspecError(f"profile {path} not found") from exc
    except OSError as exc:
        raise ConfigspecError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigspecError(f"{path} is not a JSON profile (corrupt or truncated?)") from exc
    kind = data.get("kind") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) else None


def profile_kind(path: Path) -> str:
    """The kind of a profile file, refusing anything that is not one of PROFILE_KINDS."""
    kind = read_kind(path)
    if kind not in PROFILE_KINDS:
        raise ConfigspecError(
            f"{path} is not a configspec profile (kind {kind!r}; expected one of "
            f"{', '.join(PROFILE_KINDS)})"
        )
    return kind


def load_any_profile(path: Path) -> tuple[str, BaseModel]:
    """(kind, profile) of a profile file of any kind."""
    kind = profile_kind(path)
    return kind, load_profile(path, PROFILE_KINDS[kind].model)
