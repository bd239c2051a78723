"""The last-resort meter: a labelled estimate from a device catalog or a user-given wattage."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from device_profilers.base import EnergyReading, PowerMeter
from device_profilers.host import board_model, cpu_model

CATALOG_PATH = Path(__file__).with_name("power_catalog.yaml")
# When nothing in the catalog matches: a generic laptop/desktop CPU core.
DEFAULT_PER_CORE = {"idle_w": 2.0, "active_w": 8.0, "basis": "generic CPU core, no catalog match"}


@dataclass(frozen=True)
class PowerEstimate:
    idle_w: float
    active_w: float
    source: str  # estimated:catalog / estimated:user / estimated:default
    basis: str


def load_catalog(path: Path = CATALOG_PATH) -> list[dict]:
    return yaml.safe_load(path.read_text())


def estimate_power(
    threads: int, cores: int, board: str | None = None, cpu: str | None = None,
    user_active_w: float | None = None, user_idle_w: float | None = None,
) -> PowerEstimate:  # fmt: skip
    """Idle and active watts for a load on `threads` of `cores` logical cores.

    Per-core entries scale with the threads in use (a 2-thread job on a shared server is charged two
    cores' share); whole-board entries scale the dynamic part, idle + (active - idle) * threads/cores.
    """
    if user_active_w is not None:
        idle = user_idle_w if user_idle_w is not None else 0.0
        return PowerEstimate(idle, user_active_w, "estimated:user", "wattage given by the user")
    board = board if board is not None else board_model()
    cpu = cpu if cpu is not None else cpu_model()
    busy = min(max(threads, 1), max(cores, 1))
    for entry in load_catalog():
        if any(text and re.search(entry["match"], text, re.I) for text in (board, cpu)):
            if entry.get("per_core"):
                return PowerEstimate(
                    entry["idle_w"] * busy, entry["active_w"] * busy, "estimated:catalog",
                    f"{entry['basis']} x {busy} cores",
                )  # fmt: skip
            active = entry["idle_w"] + (entry["active_w"] - entry["idle_w"]) * busy / max(cores, 1)
            return PowerEstimate(entry["idle_w"], active, "estimated:catalog", entry["basis"])
    d = DEFAULT_PER_CORE
    return PowerEstimate(
        d["idle_w"] * busy, d["active_w"] * busy, "estimated:default", f"{d['basis']} x {busy}"
    )


class EstimatedMeter(PowerMeter):
    """Energy = estimated active power x elapsed time; idle power from the same estimate.

    No sensor is read, so every figure from this meter carries an `estimated:` source.
    """

    name = "estimate"
    sampling_period_s = 0.0

    def __init__(self, estimate: PowerEstimate):
        self.estimate = estimate
        self.source = estimate.source
        self.basis = estimate.basis
        self._t0 = self.clock()

    def energy_j(self) -> float:
        return self.estimate.active_w * (self.clock() - self._t0)

    def power_w(self) -> float:
        return self.estimate.active_w

    def metadata(self) -> dict[str, str]:
        return {"basis": self.estimate.basis, "idle_w": f"{self.estimate.idle_w:g}",
                "active_w": f"{self.estimate.active_w:g}"}  # fmt: skip

    def idle_power(self, duration_s: float = 2.0) -> EnergyReading:
        # Sleeping would only multiply a constant by time: return the estimate without waiting.
        return EnergyReading(self.estimate.idle_w * duration_s, duration_s, self.source)
