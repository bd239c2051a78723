"""The power-meter interface every platform implements."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass


class MeterUnavailable(Exception):
    """This meter cannot run here; the message says why and how to enable it."""


@dataclass(frozen=True)
class EnergyReading:
    """Energy over one window, with where it came from (`measured:<meter>` or `estimated:<basis>`)."""

    energy_j: float
    duration_s: float
    source: str

    @property
    def mean_power_w(self) -> float:
        return self.energy_j / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def is_measured(self) -> bool:
        return self.source.startswith("measured:")


@dataclass
class Window:
    start_s: float
    start_energy_j: float


class PowerMeter(ABC):
    """Energy over windows of time. Subclasses read a cumulative energy counter in joules."""

    #: `measured:<name>` for a sensor, `estimated:<basis>` otherwise.
    source: str
    #: how often the underlying value updates; windows shorter than this are unreliable.
    sampling_period_s: float

    @abstractmethod
    def energy_j(self) -> float:
        """A cumulative energy counter in joules (its zero is arbitrary)."""

    def start_window(self) -> Window:
        return Window(time.perf_counter(), self.energy_j())

    def end_window(self, window: Window) -> EnergyReading:
        energy = self.energy_j() - window.start_energy_j
        return EnergyReading(energy, time.perf_counter() - window.start_s, self.source)

    def idle_power(self, duration_s: float = 2.0) -> EnergyReading:
        """Energy while the process sleeps: the device's draw when it waits for the server."""
        window = self.start_window()
        time.sleep(duration_s)
        return self.end_window(window)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release handles (NVML, jtop); a no-op for most meters."""
