"""Turn raw hardware energy counters that wrap or reset into one ever-growing total."""

from __future__ import annotations

import threading


class CounterAccumulator:
    """Sums the increments of a raw counter, surviving wraparound and resets.

    A raw value below the previous one means either the counter wrapped at `wrap_at` (RAPL's
    `max_energy_range_uj`: the increment is `wrap_at - previous + raw`), or, with no wrap point, the
    counter restarted from zero (the NVML counter after a driver reload: the increment is `raw`).
    Either way the counter must be read more often than it can wrap twice; RaplMeter ensures that.
    """

    def __init__(self, first_raw: int, wrap_at: int | None = None):
        self.wrap_at = wrap_at
        self.last_raw = first_raw
        self.total = 0  # in the counter's own unit
        self.wraps = 0
        self.resets = 0
        self._lock = threading.Lock()

    def update(self, raw: int) -> int:
        """Feed a new raw reading; returns the running total since the first reading."""
        with self._lock:
            delta = raw - self.last_raw
            if delta < 0:
                if self.wrap_at:
                    delta += self.wrap_at
                    self.wraps += 1
                else:
                    delta = raw
                    self.resets += 1
            self.total += delta
            self.last_raw = raw
            return self.total
