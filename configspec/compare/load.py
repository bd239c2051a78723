"""Read the two profiles to compare: same kind, a schema this configspec reads, valid content.

Anything wrong here is a ConfigspecError (one line, exit 2), never a regression (exit 1).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from configspec.errors import ConfigspecError
from configspec.profiles.io import load_profile
from configspec.profiles.kinds import PROFILE_KINDS, profile_kind


def load_pair(baseline: Path, current: Path) -> tuple[str, BaseModel, BaseModel]:
    """(kind, baseline profile, current profile); refuses mismatched kinds or schema versions."""
    base_kind, cur_kind = profile_kind(baseline), profile_kind(current)
    if base_kind != cur_kind:
        raise ConfigspecError(
            f"cannot compare a {base_kind} profile ({baseline}) with a {cur_kind} profile "
            f"({current}); give two profiles of the same kind"
        )
    model = PROFILE_KINDS[base_kind].model
    return base_kind, load_profile(baseline, model), load_profile(current, model)
