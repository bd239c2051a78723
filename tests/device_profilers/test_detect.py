"""Detection: order, whole-device meters stop the search, GPU + CPU parts combine, fallbacks, cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from device_profilers import detect
from device_profilers.base import MeterUnavailable
from device_profilers.combined import CombinedMeter
from device_profilers.detect import METER_FACTORIES, MeterFactory, detect_meter
from device_profilers.nvml import open_nvml_meter
from device_profilers.rapl import RaplMeter
from tests.device_profilers.fakes import FakeGpu, RaplZoneSpec, make_fake_pynvml, make_rapl_tree
from tests.device_profilers.meter_contract import MeterRig, PowerMeterContract


def unavailable(reason: str):
    def open_():
        raise MeterUnavailable(reason)

    return open_


def rapl_factory(root: Path) -> MeterFactory:
    make_rapl_tree(root, [RaplZoneSpec("intel-rapl:0", "package-0", 0.0)])
    return MeterFactory("rapl", lambda: RaplMeter(root, guard_thread=False), False, "chmod")


def nvml_factory(watts: float = 50.0) -> MeterFactory:
    pynvml = make_fake_pynvml([FakeGpu(watts=watts)])
    return MeterFactory("nvml", lambda: open_nvml_meter(pynvml), False, "install")


@pytest.fixture(autouse=True)
def fresh_cache():
    detect.clear_cache()
    yield
    detect.clear_cache()


def test_real_factory_order() -> None:
    assert [f.name for f in METER_FACTORIES] == [
        "external-csv", "jetson", "rpi5-pmic", "nvml", "rapl",
    ]  # fmt: skip
    assert all(f.how_to_enable for f in METER_FACTORIES)


def test_whole_device_meter_stops_the_search(tmp_path: Path) -> None:
    opened = []

    def board():
        opened.append("board")
        from device_profilers.raspberry_pi import RaspberryPi5Meter
        from tests.device_profilers.fakes import vcgencmd_runner

        return RaspberryPi5Meter(run=vcgencmd_runner(), period_s=0.05)

    factories = [
        MeterFactory("external-csv", unavailable("CONFIGSPEC_POWER_CSV is not set"), True, ""),
        MeterFactory("rpi5-pmic", board, True, ""),
        nvml_factory(),
    ]
    meter, skipped = detect_meter(factories=factories)
    assert meter.source == "measured:rpi5-pmic"
    assert skipped == {"external-csv": "CONFIGSPEC_POWER_CSV is not set",
                       "nvml": "not needed: rpi5-pmic measures the whole device"}  # fmt: skip
    assert meter._thread is not None and meter._thread.is_alive()  # detect started sampling


def test_gpu_and_cpu_parts_are_combined(tmp_path: Path) -> None:
    factories = [MeterFactory("jetson", unavailable("not a Jetson"), True, ""), nvml_factory(),
                 rapl_factory(tmp_path)]  # fmt: skip
    meter, skipped = detect_meter(factories=factories)
    assert isinstance(meter, CombinedMeter)
    assert meter.source == "measured:nvml+rapl"
    assert skipped == {"jetson": "not a Jetson"}
    assert set(meter.zones_energy_j()) >= {"nvml", "nvml/gpu0", "rapl", "rapl/package-0"}


def test_single_part_is_used_alone(tmp_path: Path) -> None:
    factories = [MeterFactory("nvml", unavailable("no driver"), False, ""), rapl_factory(tmp_path)]
    meter, skipped = detect_meter(factories=factories)
    assert meter.source == "measured:rapl" and skipped == {"nvml": "no driver"}


def test_nothing_available_falls_back_to_a_labelled_estimate() -> None:
    factories = [MeterFactory("rapl", unavailable("no powercap"), False, "")]
    meter, skipped = detect_meter(threads=2, factories=factories)
    assert meter.source.startswith("estimated:")
    assert skipped == {"rapl": "no powercap"}


def test_user_wattage_skips_sensors(tmp_path: Path) -> None:
    meter, skipped = detect_meter(user_active_w=12.0, user_idle_w=4.0,
                                  factories=[rapl_factory(tmp_path)])  # fmt: skip
    assert meter.source == "estimated:user" and "sensors" in skipped


def test_the_choice_is_cached_until_closed_or_refreshed(tmp_path: Path) -> None:
    calls = []
    factory = rapl_factory(tmp_path)
    counted = MeterFactory("rapl", lambda: calls.append(1) or factory.open(), False, "")
    factories = [counted]
    first, _ = detect_meter(factories=factories)
    again, _ = detect_meter(factories=factories)
    assert again is first and len(calls) == 1
    first.close()
    reopened, _ = detect_meter(factories=factories)
    assert reopened is not first and len(calls) == 2
    refreshed, _ = detect_meter(factories=factories, refresh=True)
    assert refreshed is not reopened and len(calls) == 3


def test_power_csv_environment_variable_wins(tmp_path: Path, monkeypatch) -> None:
    log = tmp_path / "wall.csv"
    log.write_text("timestamp,watts\n1,5\n2,5\n")
    monkeypatch.setenv(detect.POWER_CSV_ENV, str(log))
    factories = [METER_FACTORIES[0], nvml_factory()]
    meter, skipped = detect_meter(factories=factories)
    assert meter.source == "measured:external-csv"
    assert skipped["nvml"].startswith("not needed")


class TestCombinedContract(PowerMeterContract):
    @pytest.fixture
    def rig(self, tmp_path: Path):
        from tests.device_profilers.fakes import RaplHardware

        zones = [RaplZoneSpec("intel-rapl:0", "package-0", 15.0)]
        hardware = RaplHardware(zones)
        root = make_rapl_tree(tmp_path, zones)
        parts = [open_nvml_meter(make_fake_pynvml([FakeGpu(watts=40.0)])),
                 RaplMeter(root, read_text=hardware.read_text)]  # fmt: skip
        meter = CombinedMeter(parts).start()
        yield MeterRig(meter, power_w=55.0)
        meter.close()


def test_an_unexpected_error_in_a_factory_is_reported_not_raised(tmp_path: Path) -> None:
    def broken():
        raise OSError(5, "Input/output error")

    factories = [MeterFactory("jetson", broken, True, ""), rapl_factory(tmp_path)]
    meter, skipped = detect_meter(factories=factories)
    assert meter.source == "measured:rapl"
    assert skipped["jetson"].startswith("unexpected OSError while opening")
