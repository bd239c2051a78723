"""The contract every PowerMeter passes (after optuna's testing/pytest_samplers.py).

A meter's test module subclasses `PowerMeterContract` and supplies one fixture, `rig`: a `MeterRig`
holding a started meter over a fake that draws a known, constant power.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from dataclasses import dataclass

import pytest

from device_profilers.base import EnergyReading, PowerMeter


@dataclass
class MeterRig:
    meter: PowerMeter
    power_w: float  # what the fake hardware draws
    idle_power_w: float | None = None  # what idle_power() should report (default: power_w)
    tolerance: float = 0.1  # relative


class PowerMeterContract:
    window_s = 0.3

    @pytest.fixture
    def rig(self) -> MeterRig:  # pragma: no cover - each subclass supplies it
        raise NotImplementedError

    def _close_to(self, rig: MeterRig, measured: float, expected: float) -> None:
        assert measured == pytest.approx(expected, rel=rig.tolerance), (measured, expected)

    def test_source_is_labelled_measured_or_estimated(self, rig: MeterRig) -> None:
        kind, _, what = rig.meter.source.partition(":")
        assert kind in ("measured", "estimated") and what

    def test_sampling_period_is_a_finite_non_negative_number(self, rig: MeterRig) -> None:
        period = rig.meter.sampling_period_s
        assert isinstance(period, float | int) and math.isfinite(period) and period >= 0

    def test_window_energy_matches_the_power_drawn(self, rig: MeterRig) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. a polling meter whose thread died
            window = rig.meter.start_window()
            time.sleep(self.window_s)
            reading = rig.meter.end_window(window)
        assert isinstance(reading, EnergyReading)
        assert reading.source == rig.meter.source
        assert reading.duration_s >= self.window_s
        self._close_to(rig, reading.mean_power_w, rig.power_w)
        for zone, joules in reading.zones_j.items():
            assert math.isfinite(joules) and joules >= 0, zone

    def test_energy_counter_never_decreases(self, rig: MeterRig) -> None:
        values = []
        for _ in range(6):
            values.append(rig.meter.energy_j())
            time.sleep(0.02)
        assert values == sorted(values)
        assert values[-1] > values[0]  # it moves: the fake draws power

    def test_back_to_back_windows_are_non_negative(self, rig: MeterRig) -> None:
        reading = rig.meter.end_window(rig.meter.start_window())
        assert reading.energy_j >= 0 and reading.duration_s >= 0

    def test_instantaneous_power(self, rig: MeterRig) -> None:
        self._close_to(rig, rig.meter.power_w(), rig.power_w)

    def test_idle_power(self, rig: MeterRig) -> None:
        reading = rig.meter.idle_power(0.2)
        assert reading.source == rig.meter.source
        assert reading.duration_s == pytest.approx(0.2, abs=0.1)
        expected = rig.idle_power_w if rig.idle_power_w is not None else rig.power_w
        self._close_to(rig, reading.mean_power_w, expected)

    def test_metadata_is_plain_strings(self, rig: MeterRig) -> None:
        metadata = rig.meter.metadata()
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
        json.dumps(metadata)

    def test_close_twice_is_safe(self, rig: MeterRig) -> None:
        rig.meter.close()
        rig.meter.close()
        assert rig.meter.closed
