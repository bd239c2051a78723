"""Pieces every profile kind uses: matching cells by key, speed rows, environment notes."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import TypeVar

from configspec.compare.result import Row, Thresholds
from configspec.compare.stats import Direction, speed_test, speed_verdict
from configspec.errors import ConfigspecError
from configspec.profiles.environment import Environment
from configspec.profiles.machine_load import MachineLoad

T = TypeVar("T")

# Environment fields worth a note when they differ (the likely cause of a change).
ENVIRONMENT_FIELDS = ("cpu_model", "machine", "os", "backend", "backend_version", "threads",
                      "configspec_version", "hostname")  # fmt: skip


def index_by(items: Iterable[T], key: Callable[[T], Hashable], side: str, what: str) -> dict:
    """Key -> item; two items with the same key cannot be matched, so that is invalid input."""
    found: dict = {}
    for item in items:
        k = key(item)
        if k in found:
            raise ConfigspecError(f"{side} has two {what} with the same key {k}; keep one of them")
        found[k] = item
    return found


def match(
    baseline: dict[Hashable, T], current: dict[Hashable, T]
) -> Iterator[tuple[Hashable, T | None, T | None]]:
    """(key, baseline item or None, current item or None), baseline order first."""
    for k, item in baseline.items():
        yield k, item, current.get(k)
    for k, item in current.items():
        if k not in baseline:
            yield k, None, item


def pair_up(
    baseline: Iterable[T], current: Iterable[T], key: Callable[[T], Hashable], what: str,
    current_key: Callable[[T], Hashable] | None = None,
) -> Iterator[tuple[Hashable, T | None, T | None]]:  # fmt: skip
    """Index both sides by key (`current_key` when the current side's key differs), then match."""
    return match(index_by(baseline, key, "BASELINE", what),
                 index_by(current, current_key or key, "CURRENT", what))  # fmt: skip


def unmatched_row(cell: str, in_baseline: bool) -> Row:
    if in_baseline:
        return Row(cell=cell, metric="(cell)", status="only_baseline",
                   note="not in CURRENT: not measured, or a different model file or setting")  # fmt: skip
    return Row(cell=cell, metric="(cell)", status="only_current", note="new: not in BASELINE")


def speed_row(
    cell: str, metric: str, baseline: list[float], current: list[float], direction: Direction,
    thresholds: Thresholds, gated: bool = True, note: str = "",
) -> Row:  # fmt: skip
    """One throughput/latency/energy metric; `gated=False` shows it without deciding (info)."""
    test = speed_test(baseline, current, direction)
    status = speed_verdict(test, thresholds.tolerance, thresholds.alpha) if gated else "info"
    p_value = test.p_slower if test.ratio < 1 else test.p_faster
    return Row(
        cell=cell, metric=metric, status=status, baseline=test.baseline_mean,
        current=test.current_mean, ratio=test.ratio, ratio_ci95=test.ratio_ci95, p_value=p_value,
        rule="welch+tolerance" if gated else "not gated", note=note,
    )  # fmt: skip


def speed_is_gated(baseline: Environment, current: Environment) -> bool:
    """Speed is gated only between profiles of one CPU model.

    Throughput on another processor (an AMD EPYC baseline, an Intel Xeon CI machine) differs by
    the hardware, not by the software under test: measured here, 29 vs 22 tok/s for the same
    build and model. Such rows are shown as `info`; commit a baseline per CPU to gate them.
    """
    return baseline.cpu_model == current.cpu_model


def cross_cpu_note(baseline: Environment, current: Environment) -> list[str]:
    if speed_is_gated(baseline, current):
        return []
    return [f"speed not gated: BASELINE ran on {baseline.cpu_model!r}, CURRENT on "
            f"{current.cpu_model!r} (a difference of hardware, not of software); compare "
            f"against a baseline from this CPU (configspec baseline update)"]  # fmt: skip


def environment_notes(baseline: Environment, current: Environment) -> list[str]:
    notes = []
    for name in ENVIRONMENT_FIELDS:
        before, after = getattr(baseline, name), getattr(current, name)
        if before != after:
            notes.append(f"{name} differs: {before!r} in BASELINE, {after!r} in CURRENT")
    return notes


def interrupted_notes(baseline_interrupted: bool, current_interrupted: bool) -> list[str]:
    notes = []
    if baseline_interrupted:
        notes.append("BASELINE was interrupted while profiling: compared the cells it has")
    if current_interrupted:
        notes.append("CURRENT was interrupted while profiling: compared the cells it has")
    return notes


def busy_note(baseline: MachineLoad | None, current: MachineLoad | None) -> str:
    """Say which side was measured while other processes used the CPU (its figure is suspect)."""
    sides = [f"{side} measured on a busy machine ({'; '.join(load.reasons)})"
             for side, load in (("BASELINE", baseline), ("CURRENT", current))
             if load is not None and load.busy]  # fmt: skip
    return "; ".join(sides)
