"""`configspec compare` and `configspec baseline update`: load, compare, show, write, exit code."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from configspec.atomic_io import atomic_open
from configspec.compare.alignment import compare_alignment
from configspec.compare.drafting import compare_drafting
from configspec.compare.load import load_pair
from configspec.compare.render import (
    summary_line,
    terminal_table,
    write_junit,
    write_markdown,
)  # fmt: skip
from configspec.compare.result import Comparison, Thresholds
from configspec.compare.verification import compare_verification
from configspec.errors import ConfigspecError
from configspec.output import print_json, stdout
from configspec.profiles.kinds import load_any_profile
from configspec.progress import console

COMPARERS = {
    "drafting": compare_drafting,
    "alignment": compare_alignment,
    "verification": compare_verification,
}
BASELINE_DIR = Path("results") / "baselines"


def check_thresholds(thresholds: Thresholds) -> None:
    for name in ("tolerance", "acceptance_tolerance"):
        value = getattr(thresholds, name)
        if not 0 <= value < 1:
            flag = "--" + name.replace("_", "-")
            raise ConfigspecError(f"{flag} is a fraction in [0, 1) like 0.1, not {value}")
    if not 0 < thresholds.alpha < 1:
        raise ConfigspecError(f"--alpha is a significance level in (0, 1) like 0.05, not {thresholds.alpha}")  # fmt: skip


def _has_rule(kind: str, path: Path) -> None:
    if kind not in COMPARERS:
        raise ConfigspecError(f"{path} is a {kind} profile; the regression gate compares "
                              f"{', '.join(COMPARERS)} profiles")  # fmt: skip


def compare_files(baseline: Path, current: Path, thresholds: Thresholds) -> Comparison:
    check_thresholds(thresholds)
    kind, base, cur = load_pair(baseline, current)
    _has_rule(kind, baseline)
    return COMPARERS[kind](base, cur, thresholds, str(baseline), str(current))


@dataclass
class CompareOptions:
    """`configspec compare`: two profiles of one kind, the rule's thresholds, the reports."""

    baseline: Path
    current: Path
    thresholds: Thresholds = field(default_factory=Thresholds)
    markdown: Path | None = None  # also write a Markdown summary (a CI comment) here
    junit: Path | None = None  # also write JUnit XML here
    json: bool = False  # print the comparison as JSON instead of the table


def run_compare(options: CompareOptions) -> int:
    """Compare, print, write the requested reports; returns the exit code (0 pass, 1 regression)."""
    o = options
    baseline, current = o.baseline, o.current
    result = compare_files(baseline, current, o.thresholds)
    if o.json:
        print_json(dataclasses.asdict(result) | {"verdict": result.verdict,
                                                 "exit_code": result.exit_code})  # fmt: skip
    else:
        stdout.print(terminal_table(result))
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    if result.matched == 0:  # before writing: a report must not read "pass" here
        raise ConfigspecError(
            f"no cell of {current} matches {baseline} (device, model file, quantization and "
            f"settings must agree); profile the same cells or promote a new baseline"
        )
    if o.markdown:
        write_markdown(result, o.markdown)
    if o.junit:
        write_junit(result, o.junit)
    style = "bold red" if result.exit_code else "bold green"
    if not o.json:
        stdout.print(f"[{style}]{summary_line(result)}[/]", highlight=False)
    return result.exit_code


def default_baseline_path(kind: str, device: str) -> Path:
    # not "<kind>-*.json": recommend picks up results/**/<kind>-*.json as fresh profiles
    return BASELINE_DIR / f"{device}-{kind}.json"


def update_baseline(profile: Path, to: Path | None = None) -> Path:
    """Check `profile` is a complete, valid profile and copy it byte for byte (atomically) to `to`."""
    kind, loaded = load_any_profile(profile)
    _has_rule(kind, profile)
    if loaded.interrupted:
        raise ConfigspecError(f"{profile} was interrupted while profiling; a baseline must be complete, re-run it")  # fmt: skip
    if not getattr(loaded, "cells", None) and not getattr(loaded, "points", None):
        raise ConfigspecError(f"{profile} measured nothing; profile something first")
    destination = Path(to) if to else default_baseline_path(kind, loaded.environment.device)
    if destination.resolve() == Path(profile).resolve():
        raise ConfigspecError(f"{profile} is already the baseline {destination}")
    data = Path(profile).read_bytes()
    with atomic_open(destination, "wb") as handle:
        handle.write(data)
    destination.chmod(0o644)  # a committed file, readable by all (mkstemp makes it 0600)
    console.print(f"promoted {profile} ({kind}, {len(data)} bytes) to baseline {destination}")
    return destination
