"""An external (wall) power meter's log: a CSV of `timestamp,watts` rows, aligned to our windows.

For people who measure at the wall with a USB or smart-plug meter: log it to a CSV while profiling
and set CONFIGSPEC_POWER_CSV=<file>. Timestamps are Unix seconds (or ISO 8601) on this machine's
clock (`offset_s` corrects a logger whose clock differs). Each reading is held until the next one,
the same step signal PollingMeter integrates. A window's end waits briefly for the log to reach it,
since loggers write late.
"""

from __future__ import annotations

import bisect
import datetime as dt
import statistics
import time
from pathlib import Path

from device_profilers.base import EnergyReading, MeterUnavailable, PowerMeter, Window

DEFAULT_PERIOD_S = 1.0


def _parse_time(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if stamp.tzinfo is None:
            stamp = stamp.astimezone()  # a naive stamp is local time
        return stamp.timestamp()


class PowerLog:
    """Rows of (time_s, watts), appended as the file grows; cumulative energy for fast lookups."""

    def __init__(self, path: Path, offset_s: float = 0.0):
        self.path = Path(path)
        self.offset_s = offset_s
        self.times_s: list[float] = []
        self.watts: list[float] = []
        self._cum_j: list[float] = []
        self._offset_bytes = 0

    def refresh(self) -> None:
        """Read rows appended since the last call (a partial last line waits for the next)."""
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset_bytes)
                chunk = f.read()
        except OSError as exc:
            raise MeterUnavailable(f"external CSV: cannot read {self.path}: {exc}") from exc
        end = chunk.rfind(b"\n") + 1
        self._offset_bytes += end
        for number, raw in enumerate(chunk[:end].decode(errors="replace").splitlines()):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            cells = [c.strip() for c in line.split(",")]
            try:
                t, w = _parse_time(cells[0]) + self.offset_s, float(cells[1])
            except (ValueError, IndexError) as exc:
                if not self.times_s and number == 0:
                    continue  # a header row
                raise MeterUnavailable(f"external CSV {self.path}: bad row {line!r}; expected "
                                       "'timestamp,watts'") from exc  # fmt: skip
            if self.times_s and t <= self.times_s[-1]:
                continue  # out of order or repeated: keep time increasing
            if self.times_s:
                self._cum_j.append(self._cum_j[-1] + self.watts[-1] * (t - self.times_s[-1]))
            else:
                self._cum_j.append(0.0)
            self.times_s.append(t)
            self.watts.append(w)

    def energy_at_j(self, t: float) -> float:
        """Energy from the first row to time t (0 before it; the last reading held after it)."""
        i = bisect.bisect_right(self.times_s, t) - 1
        if i < 0:
            return 0.0
        return self._cum_j[i] + self.watts[i] * (t - self.times_s[i])

    def energy_between_j(self, t0: float, t1: float) -> float:
        return self.energy_at_j(t1) - self.energy_at_j(t0)

    def period_s(self) -> float:
        gaps = [b - a for a, b in zip(self.times_s, self.times_s[1:], strict=False)]
        return statistics.median(gaps) if gaps else DEFAULT_PERIOD_S


class ExternalCsvMeter(PowerMeter):
    name = "external-csv"
    source = "measured:external-csv"

    def __init__(self, path: Path, offset_s: float = 0.0, wait_s: float | None = None,
                 wall_clock=time.time):  # fmt: skip
        self.log = PowerLog(Path(path), offset_s)
        self.log.refresh()
        if len(self.log.times_s) < 1:
            raise MeterUnavailable(f"external CSV: {path} has no 'timestamp,watts' rows yet: "
                                   "start the logger before profiling")  # fmt: skip
        self.wall_clock = wall_clock
        self.sampling_period_s = self.log.period_s()
        self.wait_s = wait_s if wait_s is not None else 3 * self.sampling_period_s

    def energy_j(self) -> float:
        self.log.refresh()
        return self.log.energy_at_j(self.wall_clock())

    def power_w(self) -> float:
        self.log.refresh()
        return self.log.watts[-1]

    def start_window(self) -> Window:
        return Window(self.clock(), 0.0, {}, self.wall_clock())

    def end_window(self, window: Window) -> EnergyReading:
        duration = self.clock() - window.start_s
        t1 = window.wall_start_s + duration
        deadline = time.monotonic() + self.wait_s
        self.log.refresh()
        while self.log.times_s[-1] < t1 and time.monotonic() < deadline:
            time.sleep(min(0.05, self.wait_s))
            self.log.refresh()
        if self.log.times_s[0] > window.wall_start_s or self.log.times_s[-1] < t1:
            raise MeterUnavailable(
                f"external CSV {self.log.path} covers {self.log.times_s[0]:.1f}.."
                f"{self.log.times_s[-1]:.1f}, not the window {window.wall_start_s:.1f}..{t1:.1f}: "
                "is the logger running, and its clock in sync (offset_s)?"
            )
        energy = self.log.energy_between_j(window.wall_start_s, t1)
        return EnergyReading(energy, duration, self.source)

    def metadata(self) -> dict[str, str]:
        return {"log": str(self.log.path), "scope": "as wired by the user (usually wall power)"}
