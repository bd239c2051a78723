"""The estimate meets the same contract and is always labelled `estimated:`."""

from __future__ import annotations

import pytest

from device_profilers.estimate import EstimatedMeter, PowerEstimate, estimate_power
from tests.device_profilers.meter_contract import MeterRig, PowerMeterContract


class TestEstimatedContract(PowerMeterContract):
    @pytest.fixture
    def rig(self):
        meter = EstimatedMeter(PowerEstimate(2.7, 7.0, "estimated:catalog", "test board"))
        yield MeterRig(meter, power_w=7.0, idle_power_w=2.7)


def test_catalog_board_scales_dynamic_power_with_threads() -> None:
    pi5 = estimate_power(2, 4, board="Raspberry Pi 5 Model B Rev 1.0", cpu="Cortex-A76")
    assert pi5.source == "estimated:catalog"
    assert pi5.active_w == pytest.approx(2.7 + (7.0 - 2.7) * 2 / 4)


def test_user_value_is_labelled_user() -> None:
    est = estimate_power(2, 2, board=None, cpu="x", user_active_w=9.0, user_idle_w=3.0)
    assert (est.source, est.active_w, est.idle_w) == ("estimated:user", 9.0, 3.0)
    assert EstimatedMeter(est).source == "estimated:user"


def test_no_match_is_labelled_default() -> None:
    est = estimate_power(2, 8, board=None, cpu="Unknown CPU 9000")
    assert est.source == "estimated:default" and est.active_w > est.idle_w > 0
