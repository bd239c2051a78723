"""Find the newest profile of each kind under a results directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from configspec.errors import ConfigspecError
from configspec.profiles.alignment import AlignmentProfile
from configspec.profiles.drafting import DeviceProfile
from configspec.profiles.io import load_profile
from configspec.profiles.verification import VerificationProfile

HOW_TO_MAKE = {
    "drafting": "run `configspec profile` or pass --drafting FILE",
    "alignment": "run `configspec align` or pass --alignment FILE",
    "verification": "run `configspec verify-latency` or pass --verification FILE",
}


@dataclass
class Inputs:
    drafting: list[tuple[Path, DeviceProfile]]
    alignment: tuple[Path, AlignmentProfile]
    verification: tuple[Path, VerificationProfile]


def _newest_first(results: Path, kind: str) -> list[Path]:
    if not results.is_dir():
        return []
    files = [p for p in results.rglob(f"{kind}-*.json") if p.is_file()]
    return sorted(files, key=lambda p: p.stat().st_mtime, reverse=True)


def find_inputs(
    results: Path, drafting: list[Path] | None = None, alignment: Path | None = None,
    verification: Path | None = None,
) -> Inputs:  # fmt: skip
    """Profiles given explicitly, else the newest of each kind under `results` (the newest
    drafting profile per device). Everything missing is named in one line."""
    results = Path(results)
    drafting_files = list(drafting or [])
    if not drafting_files:
        seen: set[str] = set()
        for path in _newest_first(results, "drafting"):
            profile = load_profile(path, DeviceProfile)
            if profile.environment.device not in seen:
                seen.add(profile.environment.device)
                drafting_files.append(path)
    alignment = alignment or next(iter(_newest_first(results, "alignment")), None)
    verification = verification or next(iter(_newest_first(results, "verification")), None)
    missing = [
        f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} profile ({HOW_TO_MAKE[kind]})"
        for kind, found in (
            ("drafting", drafting_files),
            ("alignment", alignment),
            ("verification", verification),
        )  # fmt: skip
        if not found
    ]
    if missing:
        raise ConfigspecError(
            f"recommend needs {' and '.join(missing)}; none found under {results}/"
        )
    return Inputs(
        drafting=[(Path(p), load_profile(p, DeviceProfile)) for p in drafting_files],
        alignment=(Path(alignment), load_profile(alignment, AlignmentProfile)),
        verification=(Path(verification), load_profile(verification, VerificationProfile)),
    )
