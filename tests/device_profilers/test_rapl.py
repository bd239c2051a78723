"""RAPL over a fake powercap tree: contract, wraparound, zones, permission and absence messages."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from device_profilers.base import MeterUnavailable
from device_profilers.rapl import RaplMeter
from tests.device_profilers.fakes import RaplHardware, RaplZoneSpec, make_rapl_tree, set_energy_uj
from tests.device_profilers.meter_contract import MeterRig, PowerMeterContract

MAX_UJ = 20_000_000  # small: at 30 W the counter wraps every 0.67 s


def server_zones() -> list[RaplZoneSpec]:
    # Package 0 starts just below its wrap point and wraps within the first contract window.
    return [
        RaplZoneSpec("intel-rapl:0", "package-0", 30.0, start_uj=MAX_UJ - 3_000_000, max_uj=MAX_UJ),
        RaplZoneSpec("intel-rapl:0:0", "core", 20.0),
        RaplZoneSpec("intel-rapl:0:1", "dram", 4.0),
        RaplZoneSpec("intel-rapl:1", "package-1", 6.0),
        RaplZoneSpec("intel-rapl:2", "psys", 50.0),
    ]


class TestRaplContract(PowerMeterContract):
    @pytest.fixture
    def rig(self, tmp_path: Path):
        zones = server_zones()
        root = make_rapl_tree(tmp_path / "powercap", zones)
        hardware = RaplHardware(zones)
        meter = RaplMeter(root, read_text=hardware.read_text)  # package-0 0.1 s below its wrap
        t0, e0 = time.perf_counter(), meter.energy_j()
        yield MeterRig(meter, power_w=30.0 + 4.0 + 6.0)  # packages + DRAM, not core or psys
        time.sleep(max(0.0, 0.15 - (time.perf_counter() - t0)))
        # Across the wrap, the total still matches the power drawn over the fixture's life.
        e1, t1 = meter.energy_j(), time.perf_counter()
        assert hardware.wraps_seen["intel-rapl:0"] >= 1 and meter._counters["package-0"].wraps >= 1
        assert (e1 - e0) / (t1 - t0) == pytest.approx(40.0, rel=0.1)
        meter.close()


def test_wraparound_at_max_energy_range(tmp_path: Path) -> None:
    zones = [RaplZoneSpec("intel-rapl:0", "package-0", 0, start_uj=999_000, max_uj=1_000_000)]
    root = make_rapl_tree(tmp_path, zones)
    meter = RaplMeter(root, guard_thread=False)
    before = meter.energy_j()
    set_energy_uj(root, "intel-rapl:0", 4_000)  # wrapped: 1 000 us to the top, then 4 000
    assert meter.energy_j() - before == pytest.approx(0.005)
    set_energy_uj(root, "intel-rapl:0", 10_000)
    assert meter.energy_j() - before == pytest.approx(0.011)
    assert meter._counters["package-0"].wraps == 1


def test_total_counts_packages_and_dram_only(tmp_path: Path) -> None:
    root = make_rapl_tree(tmp_path, server_zones())
    meter = RaplMeter(root, guard_thread=False)
    window = meter.start_window()
    for dirname, add_uj in [("intel-rapl:0", 3_000), ("intel-rapl:0:0", 2_000),
                            ("intel-rapl:0:1", 500), ("intel-rapl:1", 1_000),
                            ("intel-rapl:2", 9_000)]:  # fmt: skip
        start = int((root / dirname / "energy_uj").read_text())
        set_energy_uj(root, dirname, start + add_uj)
    reading = meter.end_window(window)
    assert reading.energy_j == pytest.approx((3_000 + 500 + 1_000) / 1e6)
    assert reading.zones_j == pytest.approx({"package-0": 0.003, "core-0": 0.002, "dram-0": 0.0005,
                                             "package-1": 0.001, "psys": 0.009})  # fmt: skip
    assert "package-0, dram-0, package-1" in meter.metadata()["scope"]


def test_permission_error_says_how_to_fix(tmp_path: Path) -> None:
    root = make_rapl_tree(tmp_path, server_zones())

    def root_only(path: Path) -> str:
        # Since Linux 5.10 energy_uj is readable by root only (the PLATYPUS side channel).
        if path.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(path))
        return path.read_text()

    with pytest.raises(MeterUnavailable) as info:
        RaplMeter(root, read_text=root_only)
    message = str(info.value)
    assert "permission denied" in message
    assert "sudo chmod a+r /sys/class/powercap/intel-rapl:*/energy_uj" in message
    assert "root" in message and "\n" not in message


def test_absent_powercap_is_unavailable_with_reason(tmp_path: Path) -> None:
    with pytest.raises(MeterUnavailable, match="does not exist"):
        RaplMeter(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MeterUnavailable, match="modprobe intel_rapl_msr"):
        RaplMeter(tmp_path / "empty")
