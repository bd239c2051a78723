"""An external meter's CSV log, aligned to our windows by wall-clock time."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from device_profilers.base import MeterUnavailable, Window
from device_profilers.external_csv import ExternalCsvMeter, PowerLog
from tests.device_profilers.fakes import CsvLogger
from tests.device_profilers.meter_contract import MeterRig, PowerMeterContract


class TestExternalCsvContract(PowerMeterContract):
    @pytest.fixture
    def rig(self, tmp_path: Path):
        logger = CsvLogger(tmp_path / "wall.csv", watts=11.5, period_s=0.02)
        time.sleep(0.05)
        meter = ExternalCsvMeter(tmp_path / "wall.csv")
        yield MeterRig(meter, power_w=11.5)
        meter.close()
        logger.stop()


def test_step_signal_integration(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("timestamp,watts\n100,10\n101,20\n103,5\n")
    log = PowerLog(path)
    log.refresh()
    assert log.energy_between_j(100, 101) == pytest.approx(10)
    assert log.energy_between_j(100.5, 102) == pytest.approx(5 + 20)
    assert log.energy_between_j(102, 104) == pytest.approx(20 + 5)  # last reading held
    assert log.energy_at_j(99) == 0
    assert log.period_s() == pytest.approx(1.5)


def test_iso_timestamps_offset_and_late_rows(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("2024-05-01T10:00:00+00:00,4\n2024-05-01T10:00:02+00:00,6\n2024-05-01T10:")
    log = PowerLog(path, offset_s=-1.0)
    log.refresh()
    t0 = log.times_s[0]
    assert len(log.times_s) == 2  # the partial last line waits for its end
    with path.open("a") as f:
        f.write("00:03+00:00,8\n")
    log.refresh()
    assert log.times_s[2] - t0 == pytest.approx(3.0)
    assert log.energy_between_j(t0, t0 + 3) == pytest.approx(4 * 2 + 6 * 1)


def test_window_outside_the_log_is_an_error_with_the_remedy(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("1000,10\n1001,10\n")
    meter = ExternalCsvMeter(path, wait_s=0.05)
    window = Window(meter.clock(), 0.0, {}, wall_start_s=time.time())
    with pytest.raises(MeterUnavailable, match="is the logger running"):
        meter.end_window(window)


def test_bad_rows_and_empty_logs(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("timestamp,watts\n")
    with pytest.raises(MeterUnavailable, match="start the logger"):
        ExternalCsvMeter(tmp_path / "empty.csv")
    (tmp_path / "bad.csv").write_text("1,2\n2,lots\n")
    with pytest.raises(MeterUnavailable, match="bad row '2,lots'"):
        ExternalCsvMeter(tmp_path / "bad.csv")
