"""Jetson over a fake jtop client and fake INA3221 sysfs trees: contract, fallback, power mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from device_profilers.base import MeterUnavailable
from device_profilers.jetson import (
    JetsonIna3221Meter,
    JetsonJtopMeter,
    find_ina3221_channels,
    open_jetson_meter,
)
from tests.device_profilers.fakes import (
    FakeJtop,
    make_ina3221_hwmon_tree,
    make_ina3221_iio_tree,
    nvpmodel_runner,
)
from tests.device_profilers.meter_contract import MeterRig, PowerMeterContract

# An Orin Nano at load: the input rail and two of the rails it feeds (mV, mA).
ORIN_RAILS = {"VDD_IN": (5000, 1400), "VDD_CPU_GPU_CV": (5000, 500), "VDD_SOC": (5000, 300)}


def no_jtop():
    return FakeJtop({}, service_running=False)


class TestJetsonJtopContract(PowerMeterContract):
    @pytest.fixture
    def rig(self):
        jetson = FakeJtop({"VDD_IN": 7000, "VDD_CPU_GPU_CV": 2500, "VDD_SOC": 1500})
        meter = open_jetson_meter(lambda: jetson, period_s=0.01, run=nvpmodel_runner()).start()
        assert isinstance(meter, JetsonJtopMeter)
        yield MeterRig(meter, power_w=7.0)  # the input rail, not the sum of rails
        meter.close()
        assert jetson.closed


class TestJetsonIna3221Contract(PowerMeterContract):
    @pytest.fixture
    def rig(self, tmp_path: Path):
        sys_root = make_ina3221_hwmon_tree(tmp_path, ORIN_RAILS)
        meter = open_jetson_meter(no_jtop, sysfs_root=sys_root, run=nvpmodel_runner(),
                                  period_s=0.01).start()  # fmt: skip
        assert isinstance(meter, JetsonIna3221Meter)
        yield MeterRig(meter, power_w=7.0)
        meter.close()


def test_jtop_rails_and_power_mode_recorded() -> None:
    jetson = FakeJtop({"VDD_IN": 7000, "VDD_CPU_GPU_CV": 2500}, nvpmodel="MAXN")
    meter = open_jetson_meter(lambda: jetson, period_s=0.01)
    assert jetson.started
    sample = meter.read_power()
    assert sample.total_w == 7.0 and sample.rails_w == {"VDD_IN": 7.0, "VDD_CPU_GPU_CV": 2.5}
    assert meter.metadata()["nvpmodel"] == "MAXN"
    assert meter.metadata()["total"] == "input rail VDD_IN"
    meter.close()


def test_without_the_jtop_service_falls_back_to_ina3221(tmp_path: Path) -> None:
    sys_root = make_ina3221_hwmon_tree(tmp_path, ORIN_RAILS)
    meter = open_jetson_meter(no_jtop, sysfs_root=sys_root, run=nvpmodel_runner("7W"))
    assert meter.source == "measured:jetson-ina3221"
    assert meter.metadata()["nvpmodel"] == "7W"
    # NC channels and channel 7 (sum of shunt voltages) are not rails.
    assert meter.read_power().rails_w == pytest.approx(
        {"VDD_IN": 7.0, "VDD_CPU_GPU_CV": 2.5, "VDD_SOC": 1.5}
    )
    meter.close()


def test_jetpack4_iio_layout_and_rail_sum_without_input_rail(tmp_path: Path) -> None:
    sys_root = make_ina3221_iio_tree(tmp_path, {"POM_5V_GPU": 1200, "POM_5V_CPU": 800})
    channels = find_ina3221_channels(sys_root)
    assert sorted(channels) == ["POM_5V_CPU", "POM_5V_GPU"]
    meter = JetsonIna3221Meter(sys_root, run=nvpmodel_runner())
    assert meter.read_power().total_w == pytest.approx(2.0)
    assert meter.metadata()["total"].startswith("sum of the monitored rails")
    meter.close()


def test_neither_jtop_nor_sysfs_gives_both_reasons(tmp_path: Path) -> None:
    with pytest.raises(MeterUnavailable) as info:
        open_jetson_meter(no_jtop, sysfs_root=tmp_path, run=nvpmodel_runner())
    message = str(info.value)
    assert "no INA3221 power monitor" in message
    assert "jtop service is not running" in message and "systemctl restart jtop" in message


def test_unknown_power_mode_when_nvpmodel_is_missing(tmp_path: Path) -> None:
    def missing(argv):
        raise FileNotFoundError(argv[0])

    meter = JetsonIna3221Meter(make_ina3221_hwmon_tree(tmp_path, ORIN_RAILS), run=missing)
    assert meter.metadata()["nvpmodel"] == "unknown"
    meter.close()


def test_jtop_constructor_failure_falls_back_to_sysfs(tmp_path: Path) -> None:
    def crashing_jtop():
        raise RuntimeError("jtop socket version mismatch")

    sys_root = make_ina3221_hwmon_tree(tmp_path, ORIN_RAILS)
    meter = open_jetson_meter(crashing_jtop, sysfs_root=sys_root, run=nvpmodel_runner())
    assert meter.source == "measured:jetson-ina3221"
    meter.close()
