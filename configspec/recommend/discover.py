"""The profiles `recommend` uses: the files given, else the newest of each kind under results/
(configspec/profiles/discover.py: the newest drafting profile per device, the newest alignment
and verification profiles)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from configspec.errors import ConfigspecError
from configspec.profiles.alignment import AlignmentProfile
from configspec.profiles.discover import Found, newest, newest_per_device, scan
from configspec.profiles.drafting import DeviceProfile
from configspec.profiles.io import load_profile
from configspec.profiles.kinds import PROFILE_KINDS
from configspec.profiles.verification import VerificationProfile

FLAGS = {"drafting": "--drafting", "alignment": "--alignment", "verification": "--verification"}


@dataclass
class Inputs:
    drafting: list[tuple[Path, DeviceProfile]]
    alignment: tuple[Path, AlignmentProfile]
    verification: tuple[Path, VerificationProfile]
    problems: list[str] = field(default_factory=list)  # files under results/ that were skipped


def _given(path: Path, kind: str) -> Found:
    return Found(Path(path), kind, load_profile(path, PROFILE_KINDS[kind].model))


def find_inputs(
    results: Path, drafting: list[Path] | None = None, alignment: Path | None = None,
    verification: Path | None = None,
) -> Inputs:  # fmt: skip
    """Profiles given explicitly, else the newest of each kind under `results`. Everything
    missing is named in one line with the command that makes it."""
    results = Path(results)
    found = scan(results) if not (drafting and alignment and verification) else None
    chosen: dict[str, list[Found]] = {
        "drafting": [_given(p, "drafting") for p in drafting or []],
        "alignment": [_given(alignment, "alignment")] if alignment else [],
        "verification": [_given(verification, "verification")] if verification else [],
    }
    if found is not None:
        if not chosen["drafting"]:
            chosen["drafting"] = newest_per_device(found.of_kind("drafting"))
        for kind in ("alignment", "verification"):
            if not chosen[kind] and (item := newest(found.of_kind(kind))) is not None:
                chosen[kind] = [item]
    missing = [
        f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} profile (run `{PROFILE_KINDS[kind].made_by}`"
        f" or pass {FLAGS[kind]} FILE)"
        for kind, items in chosen.items()
        if not items
    ]
    if missing:
        raise ConfigspecError(
            f"recommend needs {' and '.join(missing)}; none found under {results}/"
        )
    return Inputs(
        drafting=[(f.path, f.profile) for f in chosen["drafting"]],
        alignment=(chosen["alignment"][0].path, chosen["alignment"][0].profile),
        verification=(chosen["verification"][0].path, chosen["verification"][0].profile),
        problems=found.problems if found is not None else [],
    )
