"""Find the report's input files under a results folder and load what can be loaded.

Files are recognised by their content (`kind` and `schema_version`), not their names, so any
layout works (`results/<device>/drafting-*.json` is the default). A file that cannot be used (a
schema version this configspec does not read, a broken file) is skipped with one line saying why
and how to fix it: the report then says what is missing instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from configspec.errors import ConfigspecError
from configspec.profiles.alignment import AlignmentProfile
from configspec.profiles.discover import scan
from configspec.profiles.drafting import DeviceProfile
from configspec.profiles.fleet import FleetProfile
from configspec.profiles.verification import VerificationProfile
from configspec.recommend.schema import Recommendations, read_recommendations
from configspec.sources.cache import sha256_file

RECOMMENDATIONS_KIND = "recommendations"
FLEET_RECOMMENDATIONS_KIND = "fleet-recommendations"  # `recommend --fleet`


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
    recommendations: tuple[Path, Recommendations] | None = None
    fleet: list[tuple[Path, FleetProfile]] = field(default_factory=list)
    fleet_recommendations: tuple[Path, dict] | None = None  # the newest
    files: list[InputFile] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # files skipped, with why and how to fix

    @property
    def profile_count(self) -> int:
        return len(self.drafting) + len(self.alignment) + len(self.verification)


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
    """Load every profile and the newest recommendations file under `results_dir`
    (configspec/profiles/discover.py finds them).

    Raises ConfigspecError only when nothing usable is there at all; otherwise problems are
    collected in `ReportInputs.problems` for the report to show."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ConfigspecError(
            f"results folder {results_dir} not found; run `configspec profile` first or pass "
            "--results DIR"
        )
    found = scan(results_dir)
    inputs = ReportInputs(results_dir=results_dir, problems=list(found.problems))
    records: list[tuple[Path, list[InputFile]]] = []
    for path, kind, data in found.rejected:
        records.append((path, [_record(path, kind, data, False, None)]))
    for item in found.profiles:
        getattr(inputs, item.kind).append((item.path, item.profile))
        data = {"schema_version": getattr(item.profile, "schema_version", None)}
        files = [_record(item.path, item.kind, data, True, item.profile)]
        if item.kind == "alignment":
            files += _traces_files(item.path, item.profile)
        records.append((item.path, files))
    inputs.files = [f for _, files in sorted(records, key=lambda r: r[0]) for f in files]
    _read_recommendations(inputs, found.documents.get(RECOMMENDATIONS_KIND, []))
    _read_fleet_recommendations(inputs, found.documents.get(FLEET_RECOMMENDATIONS_KIND, []))
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


def _read_recommendations(inputs: ReportInputs, documents: list[tuple[Path, dict]]) -> None:
    """The newest recommendations file wins (recommend rewrites it; older copies may linger); a
    file of another schema version is a problem the report names."""
    if not documents:
        return
    documents = sorted(documents, key=lambda item: item[0].stat().st_mtime)
    newest_path, newest = documents[-1]
    used = False
    try:
        inputs.recommendations = (newest_path, read_recommendations(newest, str(newest_path)))
        used = True
    except ConfigspecError as exc:
        inputs.problems.append(f"{exc} (skipped)")
    for path, data in documents:
        inputs.files.append(
            _record(path, RECOMMENDATIONS_KIND, data, used and path == newest_path, None)
        )


def _read_fleet_recommendations(inputs: ReportInputs, documents: list[tuple[Path, dict]]) -> None:
    """The newest fleet-recommendations file (`recommend --fleet`) wins, as above."""
    if not documents:
        return
    inputs.fleet_recommendations = max(documents, key=lambda item: item[0].stat().st_mtime)
    for path, data in documents:
        used = path == inputs.fleet_recommendations[0]
        inputs.files.append(_record(path, FLEET_RECOMMENDATIONS_KIND, data, used, None))
