"""Find profiles under a results folder: the one discovery rule `recommend` and `report` share.

Every JSON file below the folder is recognised by its content (`kind`), not its name. Hidden files
(atomic writes' temporaries) and the regression gate's folders (`baselines/`, `ci/`: reference
profiles, not this deployment's results) are left out. The profile of a kind to use for a device
is the newest one (file modification time) whose environment names that device.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from configspec.errors import ConfigspecError
from configspec.profiles.io import load_profile
from configspec.profiles.kinds import PROFILE_KINDS

GATE_FOLDERS = ("baselines", "ci")


@dataclass(frozen=True)
class Found:
    path: Path
    kind: str
    profile: BaseModel

    @property
    def device(self) -> str:
        return self.profile.environment.device

    @property
    def mtime(self) -> float:
        return self.path.stat().st_mtime


@dataclass
class Scan:
    """What a results folder holds: usable profiles, files that could not be used (with why and
    how to fix), and JSON documents of other kinds (recommendations), by kind."""

    profiles: list[Found] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    documents: dict[str, list[tuple[Path, dict]]] = field(default_factory=dict)
    rejected: list[tuple[Path, str, dict]] = field(default_factory=list)  # (path, kind, raw data)

    def of_kind(self, kind: str) -> list[Found]:
        return [f for f in self.profiles if f.kind == kind]


def candidates(results: Path) -> list[Path]:
    """JSON files under `results`, minus hidden files and the gate's folders."""
    results = Path(results)
    if not results.is_dir():
        return []
    return sorted(
        p
        for p in results.rglob("*.json")
        if p.is_file()
        and not p.name.startswith(".")
        and not any(
            part.startswith(".") or part in GATE_FOLDERS
            for part in p.relative_to(results).parent.parts
        )
    )


def scan(results: Path) -> Scan:
    """Read every candidate file once. A broken file is a problem only when it is meant to be
    ours (a profile kind, or inside a sub-folder); stray JSON at the top level is ignored."""
    out = Scan()
    for path in candidates(results):
        try:
            data = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError, OSError):
            if path.parent != Path(results) or path.name.startswith("recommendations"):
                out.problems.append(f"{path}: not valid JSON (corrupt or truncated?); skipped")
            continue
        kind = data.get("kind") if isinstance(data, dict) else None
        if kind in PROFILE_KINDS:
            try:
                profile = load_profile(path, PROFILE_KINDS[kind].model)
            except ConfigspecError as exc:
                out.problems.append(f"{exc} (skipped)")
                out.rejected.append((path, kind, data))
                continue
            out.profiles.append(Found(path, kind, profile))
        elif isinstance(kind, str):
            out.documents.setdefault(kind, []).append((path, data))
    return out


def newest_per_device(found: list[Found]) -> list[Found]:
    """The newest profile of each device, in device order."""
    newest: dict[str, Found] = {}
    for item in found:
        if item.device not in newest or item.mtime > newest[item.device].mtime:
            newest[item.device] = item
    return [newest[d] for d in sorted(newest)]


def newest(found: list[Found]) -> Found | None:
    return max(found, key=lambda f: f.mtime, default=None)
