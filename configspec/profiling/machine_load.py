"""What else used the CPU while a cell was measured, and whether its samples can be trusted.

A 2-core machine shared with one other busy process can decode 10x slower for a second, and the
repetitions then disagree wildly (seen: [1.6, 20.9, 17.8, 1.3, 1.5] tok/s). pyperf warns when a
benchmark's spread is large and llama-bench prints a ±; we also say *why*: around each
measurement we read this process's own CPU time (time.process_time: every thread of ours), the
machine's CPU time from /proc/stat (busy, idle, stolen by the hypervisor) and the load average.
Other processes' CPU = machine busy time - ours. A cell is flagged when its repetitions spread
more than MAX_COV, when other processes used more than MAX_OTHERS_CORES cores on average, or
when the hypervisor stole more than MAX_STEAL of the CPU time; flagged cells are measured again,
a bounded number of times (README, "Profile file format").
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from configspec.profiles.machine_load import MachineLoad

MAX_COV = 0.10  # coefficient of variation of the repetitions' rates
MAX_OTHERS_CORES = 0.25  # mean CPU use of other processes, in cores
MAX_STEAL = 0.05  # fraction of all CPU time stolen by the hypervisor
REMEASURE = 2  # extra attempts for a flagged cell

T = TypeVar("T")


@dataclass(frozen=True)
class CpuTimes:
    """One reading of /proc/stat's aggregate line, in seconds."""

    busy_s: float  # user + nice + system + irq + softirq (guest time is inside user)
    idle_s: float  # idle + iowait
    steal_s: float


def read_proc_stat(path: Path = Path("/proc/stat")) -> CpuTimes | None:
    try:
        first = path.read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if first[0] != "cpu":
        return None
    v = [float(x) for x in first[1:9]] + [0.0] * max(0, 9 - len(first))
    user, nice, system, idle, iowait, irq, softirq, steal = v[:8]
    hz = float(os.sysconf("SC_CLK_TCK"))
    return CpuTimes((user + nice + system + irq + softirq) / hz, (idle + iowait) / hz, steal / hz)


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


@dataclass(frozen=True)
class Snapshot:
    wall_s: float
    own_cpu_s: float
    machine: CpuTimes | None


class Sensors:
    """Where readings come from; tests substitute fakes."""

    def snapshot(self) -> Snapshot:
        return Snapshot(time.perf_counter(), time.process_time(), read_proc_stat())

    def load_average(self) -> float | None:
        return load_average()


def coefficient_of_variation(rates: Sequence[float]) -> float:
    if len(rates) < 2:
        return 0.0
    mean = statistics.fmean(rates)
    return statistics.stdev(rates) / mean if mean > 0 else 0.0


def judge(
    start: Snapshot, end: Snapshot, rates: Sequence[float], load: float | None
) -> MachineLoad:
    wall = max(end.wall_s - start.wall_s, 1e-9)
    own = end.own_cpu_s - start.own_cpu_s
    others = steal = None
    if start.machine and end.machine:
        busy = end.machine.busy_s - start.machine.busy_s
        stolen = end.machine.steal_s - start.machine.steal_s
        total = busy + (end.machine.idle_s - start.machine.idle_s) + stolen
        others = max(0.0, busy - own) / wall
        steal = stolen / total if total > 0 else 0.0
    cov = coefficient_of_variation(rates)
    reasons = []
    if cov > MAX_COV:
        reasons.append(f"repetitions spread {cov:.0%} (> {MAX_COV:.0%})")
    if others is not None and others > MAX_OTHERS_CORES:
        reasons.append(f"other processes used {others:.2f} cores")
    if steal is not None and steal > MAX_STEAL:
        reasons.append(f"the hypervisor stole {steal:.0%} of the CPU")
    return MachineLoad(
        wall_s=wall, own_cpu_s=own, others_cpu_cores=others, steal_fraction=steal,
        load_avg_1m=load, cov=cov, busy=bool(reasons), reasons=reasons,
    )  # fmt: skip


def measure_until_quiet(
    measure: Callable[[], tuple[T, Sequence[float]]], sensors: Sensors | None = None,
    remeasure: int = REMEASURE, on_retry: Callable[[MachineLoad], None] | None = None,
) -> tuple[T, MachineLoad]:  # fmt: skip
    """Run `measure` (returns a result and its per-repetition rates) until the machine was quiet,
    at most 1 + `remeasure` times; keep the quietest attempt (fewest reasons, then lowest spread)."""
    sensors = sensors or Sensors()
    best: tuple[T, MachineLoad] | None = None
    for attempt in range(1, remeasure + 2):
        start = sensors.snapshot()
        result, rates = measure()
        load = judge(start, sensors.snapshot(), rates, sensors.load_average())
        if best is None or (len(load.reasons), load.cov) < (len(best[1].reasons), best[1].cov):
            best = (result, load)
        if not load.busy:
            break
        if on_retry and attempt <= remeasure:
            on_retry(load)
    result, load = best  # type: ignore[misc]
    return result, load.model_copy(update={"attempts": attempt})
