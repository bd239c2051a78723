"""Find the report's input files under a results folder and load what can be loaded.

Files are recognised by their content (`kind` and `schema_version`), not their names, so any
layout works (`results/<device>/drafting-*.json` is the default). A file that cannot be used (a
schema version this configspec does not read, a broken file) is skipped with one line saying why
and how to fix it: the report then says what is missing instead of failing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from configspec.errors import ConfigspecError
from configspec.profiles.alignment import AlignmentProfile
from configspec.profiles.drafting import DeviceProfile
from configspec.profiles.fleet import FleetProfile
from configspec.profiles.io import load_profile
from configspec.profiles.verification import VerificationProfile

PROFILE_MODELS: dict[str, type[BaseModel]] = {
    "drafting": DeviceProfile,
    "alignment": AlignmentProfile,
    "verification": VerificationProfile,
    "fleet": FleetProfile,
}
# The command that produces each kind, for "how to fix" messages.
PRODUCER = {
    "drafting": "configspec profile",
    "alignment": "configspec align",
    "verification": "configspec verify-latency",
    "recommendations": "configspec recommend",
    "fleet": "configspec fleet",
}
RECOMMENDATIONS_PREFIX = "recommendations"
FLEET_RECOMMENDATIONS = "fleet-recommendations"  # `recommend --fleet`


@dataclass(frozen=True)
class InputFile:
    """One file the report read (or tried to), for the provenance table."""

    path: Path
    kind: str
    schema_version: int | None
    sha256: str
    size_bytes: int
    used: bool
    device: str | None = None
    date_utc: str | None = None
    configspec_version: str | None = None
    backend: str | None = None


@dataclass
class ReportInputs:
    results_dir: Path
    drafting: list[tuple[Path, DeviceProfile]] = field(default_factory=list)
    alignment: list[tuple[Path, AlignmentProfile]] = field(default_factory=list)
    verification: list[tuple[Path, VerificationProfile]] = field(default_factory=list)
    recommendations: tuple[Path, dict[str, Any]] | None = None
    fleet: list[tuple[Path, FleetProfile]] = field(default_factory=list)
    fleet_recommendations: tuple[Path, dict[str, Any]] | None = None  # the newest
    files: list[InputFile] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # files skipped, with why and how to fix

    @property
    def profile_count(self) -> int:
        return len(self.drafting) + len(self.alignment) + len(self.verification)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# Reference profiles for the regression gate (committed baselines, CI's fresh copies) are not
# results of this deployment: a report over results/ leaves them out.
GATE_FOLDERS = ("baselines", "ci")


def _candidates(results_dir: Path) -> list[Path]:
    """JSON files under the folder, skipping hidden ones (atomic writes' temporary files) and the
    regression gate's folders."""
    return sorted(
        p
        for p in results_dir.rglob("*.json")
        if p.is_file()
        and not any(
            part.startswith(".") or part in GATE_FOLDERS
            for part in p.relative_to(results_dir).parent.parts
        )
        and not p.name.startswith(".")
    )


def _record(path: Path, kind: str, data: dict, used: bool, profile: BaseModel | None) -> InputFile:
    env = getattr(profile, "environment", None)
    return InputFile(
        path=path, kind=kind, schema_version=data.get("schema_version"),
        sha256=sha256_file(path), size_bytes=path.stat().st_size, used=used,
        device=getattr(env, "device", None), date_utc=getattr(env, "date_utc", None) or data.get("date_utc"),
        configspec_version=getattr(env, "configspec_version", None) or data.get("configspec_version"),
        backend=f"{env.backend} {env.backend_version}" if env is not None else None,
    )  # fmt: skip


def _traces_files(path: Path, profile: AlignmentProfile) -> list[InputFile]:
    """The .npz traces an alignment profile names (beside its JSON), for provenance."""
    out = []
    for name in sorted({c.traces_file for c in profile.cells if c.traces_file}):
        traces = path.parent / name
        if traces.is_file():
            out.append(InputFile(
                path=traces, kind="alignment traces", schema_version=None,
                sha256=sha256_file(traces), size_bytes=traces.stat().st_size, used=True,
                device=profile.environment.device, date_utc=profile.environment.date_utc,
            ))  # fmt: skip
    return out


def collect_inputs(results_dir: Path) -> ReportInputs:
    """Load every profile and the newest recommendations file under `results_dir`.

    Raises ConfigspecError only when nothing usable is there at all; otherwise problems are
    collected in `ReportInputs.problems` for the report to show."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ConfigspecError(
            f"results folder {results_dir} not found; run `configspec profile` first or pass "
            "--results DIR"
        )
    inputs = ReportInputs(results_dir=results_dir)
    recommendations: list[tuple[Path, dict]] = []
    for path in _candidates(results_dir):
        try:
            data = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError):
            if path.name.startswith(RECOMMENDATIONS_PREFIX) or path.parent != results_dir:
                inputs.problems.append(f"{path}: not valid JSON (corrupt or truncated?); skipped")
            continue
        if not isinstance(data, dict):
            continue
        kind = data.get("kind")
        if kind in PROFILE_MODELS:
            try:
                profile = load_profile(path, PROFILE_MODELS[kind])
            except ConfigspecError as exc:
                inputs.problems.append(f"{exc} (skipped)")
                inputs.files.append(_record(path, kind, data, False, None))
                continue
            getattr(inputs, kind).append((path, profile))
            inputs.files.append(_record(path, kind, data, True, profile))
            if kind == "alignment":
                inputs.files.extend(_traces_files(path, profile))
        elif kind == FLEET_RECOMMENDATIONS:
            newest = inputs.fleet_recommendations
            if newest is None or path.stat().st_mtime > newest[0].stat().st_mtime:
                inputs.fleet_recommendations = (path, data)
            inputs.files.append(_record(path, kind, data, True, None))
        elif kind == "recommendations" or path.name.startswith(RECOMMENDATIONS_PREFIX):
            recommendations.append((path, data))
    if recommendations:
        # The newest file wins (recommend rewrites it; older copies may linger beside it).
        recommendations.sort(key=lambda item: item[0].stat().st_mtime)
        newest_path, newest = recommendations[-1]
        inputs.recommendations = (newest_path, newest)
        for path, data in recommendations:
            inputs.files.append(_record(path, "recommendations", data, path == newest_path, None))
    if inputs.profile_count == 0:
        if inputs.problems:
            more = f" (and {len(inputs.problems) - 1} more)" if len(inputs.problems) > 1 else ""
            raise ConfigspecError(
                f"no usable profiles in {results_dir}: {inputs.problems[0]}{more}"
            )
        raise ConfigspecError(
            f"no profiles found in {results_dir} (looked for drafting, alignment and "
            "verification JSON files); run `configspec profile` first or pass --results DIR"
        )
    return inputs
