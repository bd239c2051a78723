"""Busy-machine detection: cells measured while other processes used the CPU are flagged and
measured again; a quiet run is not flagged."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from configspec.profiling import machine_load as ml
from configspec.profiling.machine_load import CpuTimes, Snapshot


class FakeSensors(ml.Sensors):
    """Each measurement advances the clocks by what the test says happened meanwhile."""

    def __init__(self, rounds: list[dict]):
        self.rounds = rounds  # per attempt: own_cpu_s, busy_s, steal_s for 1 s of wall time
        self.t = 0.0
        self.own = self.busy = self.idle = self.steal = 0.0
        self.reads = 0

    def snapshot(self) -> Snapshot:
        if self.reads % 2 == 1:  # the end of attempt i: apply what happened during it
            r = self.rounds[self.reads // 2]
            self.t += 1.0
            self.own += r["own"]
            self.busy += r["busy"]
            self.steal += r.get("steal", 0.0)
            self.idle += max(0.0, 2.0 - r["busy"] - r.get("steal", 0.0))  # 2 cores
        self.reads += 1
        return Snapshot(self.t, self.own, CpuTimes(self.busy, self.idle, self.steal))

    def load_average(self) -> float | None:
        return 1.0


QUIET = {"own": 1.9, "busy": 1.95}
SHARED = {"own": 1.0, "busy": 2.0}  # another process took a whole core


def _measure(rates_per_attempt):
    attempts = iter(rates_per_attempt)
    return lambda: ("result", next(attempts))


def test_quiet_and_steady_is_not_flagged():
    load = ml.judge(Snapshot(0, 0, CpuTimes(0, 0, 0)), Snapshot(1, 1.9, CpuTimes(1.95, 0.05, 0)),
                    [20.0, 20.5, 19.8], 1.0)  # fmt: skip
    assert not load.busy and load.reasons == []
    assert load.others_cpu_cores == pytest.approx(0.05)


@pytest.mark.parametrize(("rates", "attempt", "reason"), [
    ([1.6, 20.9, 17.8, 1.3, 1.5], QUIET, "repetitions spread"),  # the samples seen in the issue
    ([20.0, 20.1, 20.2], SHARED, "other processes used 1.00 cores"),
    ([20.0, 20.1, 20.2], {"own": 1.5, "busy": 1.6, "steal": 0.3}, "hypervisor stole"),
])  # fmt: skip
def test_each_reason_flags_a_cell(rates, attempt, reason):
    _, load = ml.measure_until_quiet(_measure([rates]), FakeSensors([attempt]), remeasure=0)
    assert load.busy and any(reason in r for r in load.reasons), load.reasons


def test_a_busy_cell_is_measured_again_until_quiet():
    retries = []
    result, load = ml.measure_until_quiet(
        _measure([[20.0, 5.0, 20.0], [20.0, 20.1, 20.2]]), FakeSensors([SHARED, QUIET]),
        on_retry=retries.append,
    )  # fmt: skip
    assert not load.busy and load.attempts == 2 and len(retries) == 1


def test_re_measuring_is_bounded_and_keeps_the_quietest_attempt():
    rates = [[20.0, 5.0, 20.0], [20.0, 19.0, 21.0], [20.0, 2.0, 20.0]]
    sensors = FakeSensors([SHARED, SHARED, SHARED])
    _, load = ml.measure_until_quiet(_measure(rates), sensors, remeasure=2)
    assert load.busy and load.attempts == 3
    assert load.cov == pytest.approx(ml.coefficient_of_variation(rates[1]))


def test_proc_stat_is_read_in_seconds(tmp_path):
    stat = tmp_path / "stat"
    hz = os.sysconf("SC_CLK_TCK")
    stat.write_text(f"cpu  {hz} 0 {hz} {3 * hz} {hz} 0 0 {hz} 0 0\ncpu0 1 2 3\n")
    times = ml.read_proc_stat(stat)
    assert (times.busy_s, times.idle_s, times.steal_s) == (2.0, 4.0, 1.0)


# A busy child: a fresh interpreter, not a fork of this one (a fork of a process that loaded
# OpenMP or torch can hang in its atfork handlers instead of spinning). Bounded: it stops itself.
SPIN = "import time\nend = time.monotonic() + 120\nwhile time.monotonic() < end: pass"


@pytest.mark.real_model
def test_real_profile_flags_and_remeasures_under_contention(demo_registry, test_threads, tmp_path):
    """A short real profile with two busy child processes is flagged and re-measured; the same
    profile on the quiet machine is not flagged."""
    from configspec.profiles.drafting import DraftingSettings
    from configspec.profiling.drafting_sweep import new_profile, run_sweep, select_cells
    from device_profilers import detect_meter

    settings = DraftingSettings(threads=test_threads, repetitions=3, warmup_tokens=4,
                                decode_tokens=16, contexts=[16], prefill_tokens=32)  # fmt: skip
    meter, skipped = detect_meter(threads=test_threads)
    cells = select_cells(demo_registry, ["qwen2.5-coder-0.5b"], ["Q4_K_M"])

    def profile(name: str, retries: list):
        p = new_profile("demo", settings, meter, skipped, "llama_cpp", "?")
        run_sweep(cells, p, tmp_path / f"{name}.json", meter,
                  on_busy=lambda what, load: retries.append((what, load)))  # fmt: skip
        return p.cells[0]

    quiet_retries: list = []
    quiet = profile("quiet", quiet_retries)
    decode = quiet.decode[0].machine_load
    # (a stray process can flag one attempt; the kept one is quiet after at most two more)
    assert decode is not None and not decode.busy, decode.reasons

    busy_retries: list = []
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(2)]
    try:
        busy = profile("busy", busy_retries)
    finally:
        for s in spinners:  # by process id
            s.kill()
            s.wait()
    decode = busy.decode[0].machine_load
    assert decode.attempts > 1 and busy_retries, "the busy cell was not measured again"
    flagged = [load for what, load in busy_retries if "@" in what]  # the decode measurements
    assert flagged and all(load.busy for load in flagged)
    assert any("other processes" in r for load in flagged for r in load.reasons), flagged
    # The quietest attempt is kept: on a machine with more cores than the spinners fill, a
    # re-measurement can be quiet; when it is not, the profile says so in its notes.
    assert len(decode.reasons) <= min(len(load.reasons) for load in flagged)
    if decode.busy:
        assert any("machine busy" in note for note in busy.busy_notes())
