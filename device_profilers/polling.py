"""Meters that can only read instantaneous power: sample in a background thread and integrate.

Integration is sample-and-hold: each sample's power is held until the next one, so the cumulative
energy is the exact integral of a step signal and never decreases; a window's error is at most one
period x the power change at each of its two ends. The thread sleeps on an Event between samples,
and the samplers read a file or call a library (the C call or syscall releases the GIL), so it costs
the decode loop little; benchmarks/meter_overhead.py measures how little.
"""

from __future__ import annotations

import threading
import warnings
from abc import abstractmethod
from dataclasses import dataclass, field

from device_profilers.base import MeterUnavailable, PowerMeter


@dataclass(frozen=True)
class PowerSample:
    total_w: float
    rails_w: dict[str, float] = field(default_factory=dict)


class PollingMeter(PowerMeter):
    """Subclasses implement `read_power()`; this class runs the sampling thread and integrates."""

    #: seconds between samples; subclasses set a default that matches the sensor's update rate.
    period_s: float = 0.1

    def __init__(self, period_s: float | None = None):
        if period_s is not None:
            self.period_s = period_s
        if self.period_s <= 0:
            raise ValueError("the sampling period must be positive")
        self.sampling_period_s = self.period_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.samples_taken = 0
        self.errors = 0
        self.last_error: str | None = None
        # Read once in the caller's thread so an unusable sensor fails detection, not profiling.
        first = self.read_power()
        self._t_last = self.clock()
        self._last = first
        self._energy_j = 0.0
        self._rails_j = {rail: 0.0 for rail in first.rails_w}

    @abstractmethod
    def read_power(self) -> PowerSample:
        """One reading of the sensor; raise MeterUnavailable if it cannot be read."""

    def start(self) -> PollingMeter:
        """Start the sampling thread (idempotent); `detect` starts it for the meter it returns."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._sample_loop, name=f"{self.name}-sampler",
                                            daemon=True)  # fmt: skip
            self._thread.start()
        return self

    def _sample_loop(self) -> None:
        while not self._stop.wait(self.period_s):
            self.sample_now()

    def sample_now(self) -> None:
        """Take one sample and integrate up to it (the thread calls this; tests may too)."""
        try:
            sample = self.read_power()
        except (MeterUnavailable, OSError, ValueError) as exc:
            # A transient read error: hold the last value and count it, so the profile can say so.
            with self._lock:
                self.errors += 1
                self.last_error = str(exc)
            return
        now = self.clock()
        with self._lock:
            self._advance_to(now)
            self._last = sample
            for rail in sample.rails_w:
                self._rails_j.setdefault(rail, 0.0)
            self.samples_taken += 1

    def _advance_to(self, now: float) -> None:
        dt = max(now - self._t_last, 0.0)
        self._energy_j += self._last.total_w * dt
        for rail, watts in self._last.rails_w.items():
            self._rails_j[rail] = self._rails_j.get(rail, 0.0) + watts * dt
        self._t_last = now

    def energy_j(self) -> float:
        with self._lock:
            self._advance_to(self.clock())
            return self._energy_j

    def zones_energy_j(self) -> dict[str, float]:
        with self._lock:
            self._advance_to(self.clock())
            return dict(self._rails_j)

    def power_w(self) -> float:
        with self._lock:
            return self._last.total_w

    def is_sampling(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def end_window(self, window):
        if not self.is_sampling():
            warnings.warn(
                f"{self.name}: the sampling thread is not running, so power is held at its last "
                "value; call start() (detect_meter does) for a measured figure",
                stacklevel=2,
            )
        return super().end_window(window)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(2 * self.period_s, 1.0))
            self._thread = None
        super().close()
