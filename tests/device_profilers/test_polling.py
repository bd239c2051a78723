"""The sampling machinery: sample-and-hold integration, per-rail energy, read errors, the thread."""

from __future__ import annotations

import pytest

from device_profilers.base import MeterUnavailable
from device_profilers.polling import PollingMeter, PowerSample


class ScriptedMeter(PollingMeter):
    """Readings from a list, on a clock the test moves."""

    name = "scripted"
    source = "measured:scripted"

    def __init__(self, readings: list[PowerSample | Exception]):
        self.readings = list(readings)
        self.now = 0.0
        super().__init__(period_s=1.0)

    def clock(self) -> float:
        return self.now

    def read_power(self) -> PowerSample:
        item = self.readings.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def test_sample_and_hold_integration_per_rail() -> None:
    meter = ScriptedMeter([
        PowerSample(10.0, {"cpu": 6.0, "gpu": 4.0}),
        PowerSample(20.0, {"cpu": 15.0, "gpu": 5.0}),
        PowerSample(5.0, {"cpu": 5.0, "gpu": 0.0}),
    ])  # fmt: skip
    window = meter.start_window()  # t = 0, holding 10 W
    meter.now = 2.0
    meter.sample_now()  # 2 s at 10 W, now 20 W
    meter.now = 3.0
    meter.sample_now()  # 1 s at 20 W, now 5 W
    meter.now = 5.0  # 2 s at 5 W, up to now
    meter.is_sampling = lambda: True  # the test is the sampler here
    reading = meter.end_window(window)
    assert reading.energy_j == pytest.approx(20 + 20 + 10)
    assert reading.zones_j == pytest.approx({"cpu": 12 + 15 + 10, "gpu": 8 + 5 + 0})
    assert reading.duration_s == 5.0
    assert meter.samples_taken == 2


def test_a_failed_read_holds_the_last_value_and_is_counted() -> None:
    meter = ScriptedMeter([PowerSample(10.0), MeterUnavailable("i2c timeout"), PowerSample(30.0)])
    meter.now = 1.0
    meter.sample_now()
    assert meter.errors == 1 and meter.last_error == "i2c timeout"
    meter.now = 2.0
    meter.sample_now()
    meter.now = 3.0
    assert meter.energy_j() == pytest.approx(10 + 10 + 30)


def test_unreadable_sensor_fails_at_construction() -> None:
    with pytest.raises(MeterUnavailable, match="gone"):
        ScriptedMeter([MeterUnavailable("gone")])


def test_a_window_without_the_thread_warns() -> None:
    meter = ScriptedMeter([PowerSample(1.0)])
    window = meter.start_window()
    with pytest.warns(UserWarning, match="sampling thread is not running"):
        meter.end_window(window)
