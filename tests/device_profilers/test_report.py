"""`configspec devices`: what was detected, why the others were not, how to enable them."""

from __future__ import annotations

from device_profilers import detect
from device_profilers.report import devices_report


def test_report_on_this_machine_lists_every_meter_with_a_remedy(monkeypatch) -> None:
    monkeypatch.delenv(detect.POWER_CSV_ENV, raising=False)
    rows = devices_report(threads=2)
    labels = [label for label, _ in rows]
    assert "power meter" in labels and "cpu_model" in labels
    # Every meter is either the one used or listed with the reason it was not.
    not_used = {label[4:] for label in labels if label.startswith("not ")}
    assert len(not_used) >= 3 and not_used <= {
        "external-csv",
        "jetson",
        "rpi5-pmic",
        "nvml",
        "rapl",
    }
    if dict(rows)["power meter"].startswith("estimated:"):
        assert not_used == {"external-csv", "jetson", "rpi5-pmic", "nvml", "rapl"}
    for i, (label, text) in enumerate(rows):
        if label.startswith("not ") and not text.startswith("not needed"):
            assert rows[i + 1][0] == "to enable" and rows[i + 1][1]
