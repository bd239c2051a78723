"""The machine's load during a measurement, as recorded in profiles (measured by
configspec/profiling/machine_load.py)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class MachineLoad(BaseModel):
    """The conditions one measurement ran under (kept in the profile next to its samples)."""

    wall_s: float
    own_cpu_s: float  # this process, all threads, user + system
    others_cpu_cores: float | None = None  # other processes' CPU time / wall time (in cores)
    steal_fraction: float | None = None  # of all CPU time, taken by the hypervisor
    load_avg_1m: float | None = None  # at the end of the measurement
    cov: float = 0.0  # std / mean of the repetitions' rates
    busy: bool = False  # flagged: the samples are not to be trusted as this machine's speed
    reasons: list[str] = Field(default_factory=list)
    attempts: int = 1  # measurements made; the kept one is the quietest
