"""NVML over a mocked nvidia-ml-py: energy counter and polling, several GPUs, resets, errors."""

from __future__ import annotations

import sys

import pytest

from device_profilers.base import MeterUnavailable
from device_profilers.nvml import (
    NvmlEnergyMeter,
    NvmlPollingMeter,
    import_pynvml,
    open_nvml_meter,
)
from tests.device_profilers.fakes import FakeGpu, make_fake_pynvml
from tests.device_profilers.meter_contract import MeterRig, PowerMeterContract


class TestNvmlEnergyCounterContract(PowerMeterContract):
    @pytest.fixture
    def rig(self):
        gpus = [FakeGpu(watts=120.0, counter_start_mj=9_000_000), FakeGpu(watts=80.0)]
        meter = open_nvml_meter(make_fake_pynvml(gpus)).start()
        assert isinstance(meter, NvmlEnergyMeter)
        yield MeterRig(meter, power_w=200.0)
        meter.close()


class TestNvmlPollingContract(PowerMeterContract):
    @pytest.fixture
    def rig(self):
        gpus = [FakeGpu(name="Tesla P100", watts=60.0, has_energy_counter=False)]
        meter = open_nvml_meter(make_fake_pynvml(gpus), period_s=0.01).start()
        assert isinstance(meter, NvmlPollingMeter)
        assert meter.source == "measured:nvml-power-polled"
        yield MeterRig(meter, power_w=60.0)
        meter.close()


def test_counter_reset_is_absorbed() -> None:
    gpu = FakeGpu(manual_counter=True, counter_mj=5_000_000)
    meter = open_nvml_meter(make_fake_pynvml([gpu]))
    window = meter.start_window()
    gpu.counter_mj = 5_010_000  # +10 J
    assert meter.energy_j() - window.start_energy_j == pytest.approx(10.0)
    gpu.counter_mj = 2_000  # the driver reloaded: the counter restarted at 0 and has 2 J since
    assert meter.end_window(window).energy_j == pytest.approx(12.0)
    assert meter.resets == 1
    gpu.counter_mj = 3_000
    assert meter.end_window(window).energy_j == pytest.approx(13.0)


def test_several_gpus_are_summed_with_one_zone_each() -> None:
    gpus = [FakeGpu(manual_counter=True, counter_mj=1_000), FakeGpu(manual_counter=True),
            FakeGpu(name="NVIDIA A100", manual_counter=True, counter_mj=50)]  # fmt: skip
    meter = open_nvml_meter(make_fake_pynvml(gpus))
    window = meter.start_window()
    gpus[0].counter_mj += 4_000
    gpus[2].counter_mj += 1_500
    reading = meter.end_window(window)
    assert reading.energy_j == pytest.approx(5.5)
    assert reading.zones_j == pytest.approx({"gpu0": 4.0, "gpu1": 0.0, "gpu2": 1.5})
    assert meter.metadata()["gpus"] == (
        "0: NVIDIA H100 80GB HBM3; 1: NVIDIA H100 80GB HBM3; 2: NVIDIA A100"
    )


def test_gpu_subset() -> None:
    gpus = [FakeGpu(watts=10.0), FakeGpu(watts=20.0)]
    meter = open_nvml_meter(make_fake_pynvml(gpus), gpu_indices=[1])
    assert meter.power_w() == pytest.approx(20.0)
    with pytest.raises(MeterUnavailable, match=r"no GPU \[5\] \(this machine has 2\)"):
        open_nvml_meter(make_fake_pynvml(gpus), gpu_indices=[5])


def test_one_gpu_without_counter_makes_all_poll() -> None:
    gpus = [FakeGpu(watts=10.0), FakeGpu(watts=20.0, has_energy_counter=False)]
    meter = open_nvml_meter(make_fake_pynvml(gpus), period_s=0.01)
    assert isinstance(meter, NvmlPollingMeter)
    assert meter.read_power().rails_w == {"gpu0": 10.0, "gpu1": 20.0}
    meter.close()


@pytest.mark.parametrize(
    ("code", "fix"),
    [(12, "install the NVIDIA driver"), (9, "driver is not loaded"), (4, "run as root")],
)
def test_vendor_errors_become_one_line_reasons(code: int, fix: str) -> None:
    with pytest.raises(MeterUnavailable) as info:
        open_nvml_meter(make_fake_pynvml([FakeGpu()], init_error=code))
    assert fix in str(info.value) and str(info.value).startswith("NVML: nvmlInit failed")


def test_no_gpu_is_unavailable_and_shuts_down() -> None:
    nvml = make_fake_pynvml([])
    with pytest.raises(MeterUnavailable, match="sees no NVIDIA GPU"):
        open_nvml_meter(nvml)
    assert nvml.calls == {"init": 1, "shutdown": 1}


def test_close_shuts_nvml_down_once() -> None:
    nvml = make_fake_pynvml([FakeGpu()])
    meter = open_nvml_meter(nvml)
    meter.close()
    meter.close()
    assert nvml.calls == {"init": 1, "shutdown": 1}


def test_missing_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml now raises ImportError
    with pytest.raises(MeterUnavailable, match=r"pip install 'configspec\[nvidia\]'"):
        import_pynvml()
