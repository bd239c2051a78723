"""Raspberry Pi 5 PMIC over recorded `vcgencmd pmic_read_adc` output; Pi 4 falls to the estimate."""

from __future__ import annotations

import subprocess

import pytest

from device_profilers.base import MeterUnavailable
from device_profilers.detect import MeterFactory, detect_meter
from device_profilers.raspberry_pi import RaspberryPi5Meter, parse_pmic_read_adc
from tests.device_profilers.fakes import FIXTURES, vcgencmd_runner
from tests.device_profilers.meter_contract import MeterRig, PowerMeterContract

PI5_RAIL_SUM_W = 1.76670653643166  # sum of V x A over the 12 rails of the recorded output


class TestRaspberryPi5Contract(PowerMeterContract):
    @pytest.fixture
    def rig(self):
        meter = RaspberryPi5Meter(run=vcgencmd_runner(), period_s=0.01).start()
        yield MeterRig(meter, power_w=PI5_RAIL_SUM_W)
        meter.close()


def test_parse_recorded_pi5_output() -> None:
    rails = parse_pmic_read_adc((FIXTURES / "pi5_pmic_read_adc.txt").read_text())
    assert len(rails) == 12  # EXT5V and BATT have a voltage but no current: not rails we can sum
    assert "EXT5V" not in rails and "BATT" not in rails
    assert rails["VDD_CORE"] == pytest.approx(0.56259000 * 0.76798460)
    assert rails["DDR_VDDQ"] == 0.0
    assert sum(rails.values()) == pytest.approx(PI5_RAIL_SUM_W)


def test_scope_says_rail_sum_not_wall_power() -> None:
    meter = RaspberryPi5Meter(run=vcgencmd_runner())
    assert "below wall power" in meter.metadata()["scope"]
    meter.close()


def test_pi4_has_no_pmic_readings() -> None:
    with pytest.raises(MeterUnavailable, match="Raspberry Pi 5 only"):
        RaspberryPi5Meter(run=vcgencmd_runner("pi4_pmic_read_adc.txt"))


def test_pi4_falls_to_the_estimate() -> None:
    pi4 = MeterFactory("rpi5-pmic", lambda: RaspberryPi5Meter(run=vcgencmd_runner(
        "pi4_pmic_read_adc.txt")), True, "")  # fmt: skip
    meter, skipped = detect_meter(threads=4, factories=[pi4], refresh=True)
    assert meter.source.startswith("estimated:")
    assert "Raspberry Pi 5 only" in skipped["rpi5-pmic"]


def test_vcgencmd_failing_with_an_error_code() -> None:
    def failing(argv):
        raise subprocess.CalledProcessError(255, argv, output='error=1 error_msg="Command not '
                                            'registered"\n')  # fmt: skip

    with pytest.raises(MeterUnavailable, match="Raspberry Pi 5 only"):
        RaspberryPi5Meter(run=failing)


def test_missing_vcgencmd_says_what_to_install() -> None:
    def missing(argv):
        raise FileNotFoundError(2, "No such file or directory", argv[0])

    with pytest.raises(MeterUnavailable, match="apt install libraspberrypi-bin"):
        RaspberryPi5Meter(run=missing)
