"""Read the two profiles to compare: same kind, a schema this configspec reads, valid content.

Anything wrong here is a ConfigspecError (one line, exit 2), never a regression (exit 1).
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from configspec.errors import ConfigspecError
from configspec.profiles.alignment import AlignmentProfile
from configspec.profiles.drafting import DeviceProfile
from configspec.profiles.io import load_profile
from configspec.profiles.verification import VerificationProfile

PROFILE_MODELS: dict[str, type[BaseModel]] = {
    "drafting": DeviceProfile,
    "alignment": AlignmentProfile,
    "verification": VerificationProfile,
}


def profile_kind(path: Path) -> str:
    """The `kind` field of a profile file, checked against the kinds configspec knows."""
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
    if kind not in PROFILE_MODELS:
        raise ConfigspecError(
            f"{path} is not a configspec profile (kind {kind!r}; expected one of "
            f"{', '.join(PROFILE_MODELS)})"
        )
    return kind


def load_pair(baseline: Path, current: Path) -> tuple[str, BaseModel, BaseModel]:
    """(kind, baseline profile, current profile); refuses mismatched kinds or schema versions."""
    base_kind, cur_kind = profile_kind(baseline), profile_kind(current)
    if base_kind != cur_kind:
        raise ConfigspecError(
            f"cannot compare a {base_kind} profile ({baseline}) with a {cur_kind} profile "
            f"({current}); give two profiles of the same kind"
        )
    model = PROFILE_MODELS[base_kind]
    return base_kind, load_profile(baseline, model), load_profile(current, model)
