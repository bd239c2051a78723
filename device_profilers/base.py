"""The power-meter interface every platform implements."""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

MEASURED_PREFIX = "measured:"


def is_measured(source: str | None) -> bool:
    """The one rule for "is this figure measured?": its source label reads `measured:<meter>`;
    anything else (`estimated:<basis>`, missing) is an estimate."""
    return bool(source) and source.startswith(MEASURED_PREFIX)


class MeterUnavailable(Exception):
    """This meter cannot run here; the message says why and how to enable it."""


@dataclass(frozen=True)
class EnergyReading:
    """Energy over one window, with where it came from (`measured:<meter>` or `estimated:<basis>`).

    `zones_j` splits the energy by zone/rail/GPU where the meter can (RAPL package and DRAM, Jetson
    rails, one entry per GPU); zones may overlap a total, so they need not add up to `energy_j`.
    """

    energy_j: float
    duration_s: float
    source: str
    zones_j: dict[str, float] = field(default_factory=dict)

    @property
    def mean_power_w(self) -> float:
        return self.energy_j / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def is_measured(self) -> bool:
        return is_measured(self.source)

    def zone_power_w(self) -> dict[str, float]:
        if self.duration_s <= 0:
            return {zone: 0.0 for zone in self.zones_j}
        return {zone: joules / self.duration_s for zone, joules in self.zones_j.items()}


@dataclass
class Window:
    start_s: float  # the meter's monotonic clock
    start_energy_j: float
    start_zones_j: dict[str, float] = field(default_factory=dict)
    wall_start_s: float = field(default_factory=time.time)  # to align with external logs


class PowerMeter(ABC):
    """Energy over windows of time. Subclasses expose a cumulative energy counter in joules.

    Counter meters (RAPL, the NVML energy counter) read the hardware counter; polling meters
    (`device_profilers.polling.PollingMeter`) integrate sampled power in a background thread.
    """

    #: short name used by `detect` and `configspec devices` (rapl, nvml, jetson, rpi5-pmic, ...).
    name: str = "meter"
    #: `measured:<name>` for a sensor, `estimated:<basis>` otherwise.
    source: str
    #: how often the underlying value updates; windows shorter than this are unreliable.
    sampling_period_s: float
    #: what an estimated figure rests on (a catalog entry, the user's wattage); None for a sensor.
    basis: str | None = None
    #: sensor reads that failed so far (polling meters hold the last good reading meanwhile).
    errors: int = 0
    last_error: str | None = None

    @staticmethod
    def clock() -> float:
        return time.perf_counter()

    @abstractmethod
    def energy_j(self) -> float:
        """A cumulative energy counter in joules (its zero is arbitrary; it never decreases)."""

    def zones_energy_j(self) -> dict[str, float]:
        """Cumulative energy per zone/rail/GPU, where the meter can tell them apart."""
        return {}

    def power_w(self) -> float:
        """Power now: the mean over one update period of the sensor (polling meters: last sample)."""
        window = self.start_window()
        time.sleep(max(self.sampling_period_s, 0.1))
        return self.end_window(window).mean_power_w

    def metadata(self) -> dict[str, str]:
        """What a reader of the profile must know about this figure (scope, power mode, GPUs)."""
        return {}

    def start_window(self) -> Window:
        return Window(self.clock(), self.energy_j(), self.zones_energy_j())

    def end_window(self, window: Window) -> EnergyReading:
        energy = self.energy_j() - window.start_energy_j
        duration = self.clock() - window.start_s
        zones = self.zones_energy_j()
        by_zone = {z: zones[z] - j for z, j in window.start_zones_j.items() if z in zones}
        if not math.isfinite(energy) or energy < 0:
            raise ArithmeticError(f"{self.name}: energy counter went backwards ({energy} J)")
        return EnergyReading(energy, duration, self.source, by_zone)

    def idle_power(self, duration_s: float = 2.0) -> EnergyReading:
        """Energy while the process sleeps: the device's draw when it waits for the server."""
        window = self.start_window()
        time.sleep(duration_s)
        return self.end_window(window)

    def start(self) -> PowerMeter:
        """Begin background work (polling meters' sampling thread); returns self."""
        return self

    @property
    def closed(self) -> bool:
        return getattr(self, "_closed", False)

    def close(self) -> None:
        """Release handles (NVML, jtop) and stop sampling threads; safe to call twice.

        Subclasses that override it also call `super().close()`.
        """
        self._closed = True

    def __enter__(self) -> PowerMeter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
