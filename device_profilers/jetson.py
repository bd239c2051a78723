"""NVIDIA Jetson: board power from jetson-stats (jtop), or the INA3221 monitors in sysfs without it.

Both give instantaneous power per rail, sampled and integrated by PollingMeter. The total is the
board input rail (VDD_IN on Orin/Xavier NX, POM_5V_IN on Nano/TX2), which already includes the CPU,
GPU and SoC rails (NVIDIA's Jetson power guides); only where no input rail exists are the rails
summed, and the metadata says so. The power mode (nvpmodel) is recorded with the result because it
caps clocks and so changes every figure.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from device_profilers.base import MeterUnavailable, PowerMeter
from device_profilers.commands import CommandRunner, run_command
from device_profilers.polling import PollingMeter, PowerSample

INPUT_RAILS = ("VDD_IN", "POM_5V_IN")
JTOP_PERIOD_S = 0.5  # the jtop service's update interval we ask for
INA3221_PERIOD_S = 0.1
ENABLE_JTOP = "sudo pip3 install -U jetson-stats && sudo systemctl restart jtop.service"


def total_from_rails(rails_w: dict[str, float]) -> tuple[float, str]:
    """The board total and how it was obtained."""
    for name in INPUT_RAILS:
        if name in rails_w:
            return rails_w[name], f"input rail {name}"
    return sum(rails_w.values()), "sum of the monitored rails (no input rail on this module)"


def read_power_mode(run: CommandRunner) -> str | None:
    """`nvpmodel -q` prints e.g. 'NV Power Mode: 15W' then the mode number."""
    try:
        out = run(["nvpmodel", "-q"])
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"Power Mode:\s*(\S.*)", out)
    return match.group(1).strip() if match else None


class JetsonJtopMeter(PollingMeter):
    """Rails from a running jtop client (`jetson.power = {'rail': {...}, 'tot': {...}}`, mW)."""

    name = "jetson"
    source = "measured:jetson-jtop"
    period_s = JTOP_PERIOD_S

    def __init__(
        self, jetson: Any, run: CommandRunner = run_command, period_s: float | None = None
    ):
        self.jetson = jetson
        self._command = run
        super().__init__(period_s)
        mode = getattr(jetson, "nvpmodel", None)
        self.power_mode = str(mode) if mode is not None else read_power_mode(run)

    def read_power(self) -> PowerSample:
        power = self.jetson.power or {}
        rails = {name: rail["power"] / 1e3 for name, rail in power.get("rail", {}).items()}
        tot = power.get("tot")
        if tot is None and not rails:
            raise MeterUnavailable("Jetson: jtop reports no power rails on this module")
        if tot is not None:
            name = tot.get("name")
            if name:
                rails[name] = tot["power"] / 1e3
            return PowerSample(tot["power"] / 1e3, rails)
        return PowerSample(total_from_rails(rails)[0], rails)

    def metadata(self) -> dict[str, str]:
        rails = self.read_power().rails_w
        return {"nvpmodel": self.power_mode or "unknown", "total": total_from_rails(rails)[1],
                "rails": ", ".join(sorted(rails))}  # fmt: skip

    def close(self) -> None:
        try:
            self.jetson.close()
        except Exception:  # noqa: BLE001 - closing a dead client must not fail a profile
            pass
        super().close()


def find_ina3221_channels(sysfs_root: Path) -> dict[str, tuple[str, Path, Path | None]]:
    """rail -> ('hwmon', volt mV file, curr mA file) or ('iio', power mW file, None)."""
    channels: dict[str, tuple[str, Path, Path | None]] = {}
    devices = sysfs_root / "bus" / "i2c" / "devices"
    if not devices.is_dir():
        return channels
    for device in sorted(devices.iterdir()):
        try:
            if "ina3221" not in (device / "name").read_text():
                continue
        except OSError:
            continue
        # JetPack 5+: hwmon/hwmonN/inK_label, inK_input (mV), currK_input (mA)
        for label in sorted(device.glob("hwmon/hwmon*/in*_label")):
            number = label.name[2:].split("_")[0]
            try:
                rail = label.read_text().strip()
            except OSError:
                continue
            # "NC" channels are not connected; channel 7 is the sum of shunt voltages, not a rail.
            if rail.startswith("NC") or number == "7":
                continue
            channels[rail] = ("hwmon", label.with_name(f"in{number}_input"),
                              label.with_name(f"curr{number}_input"))  # fmt: skip
        # JetPack 4: iio:deviceN/rail_name_K, in_powerK_input (mW)
        for label in sorted(device.glob("iio:device*/rail_name_*")):
            number = label.name.rsplit("_", 1)[1]
            channels[label.read_text().strip()] = (
                "iio", label.with_name(f"in_power{number}_input"), None,
            )  # fmt: skip
    return channels


class JetsonIna3221Meter(PollingMeter):
    """The INA3221 rail monitors read straight from sysfs (no jtop service needed)."""

    name = "jetson"
    source = "measured:jetson-ina3221"
    period_s = INA3221_PERIOD_S

    def __init__(self, sysfs_root: Path = Path("/sys"), run: CommandRunner = run_command,
                 period_s: float | None = None):  # fmt: skip
        self.channels = find_ina3221_channels(Path(sysfs_root))
        if not self.channels:
            raise MeterUnavailable(f"Jetson: no INA3221 power monitor under {sysfs_root}/bus/i2c")
        super().__init__(period_s)
        self.power_mode = read_power_mode(run)

    def read_power(self) -> PowerSample:
        rails = {}
        for rail, (kind, first, second) in self.channels.items():
            try:
                if kind == "hwmon":
                    millivolts = int(first.read_text().split()[0])
                    milliamps = int(second.read_text().split()[0])  # type: ignore[union-attr]
                    rails[rail] = millivolts * milliamps / 1e6
                else:
                    rails[rail] = int(first.read_text().split()[0]) / 1e3
            except PermissionError as exc:
                raise MeterUnavailable(f"Jetson: cannot read {first}: run as root") from exc
        return PowerSample(total_from_rails(rails)[0], rails)

    def metadata(self) -> dict[str, str]:
        return {"nvpmodel": self.power_mode or "unknown",
                "total": total_from_rails(self.read_power().rails_w)[1],
                "rails": ", ".join(sorted(self.channels))}  # fmt: skip


def _default_jtop_factory() -> Any:
    try:
        from jtop import jtop
    except ImportError as exc:
        raise MeterUnavailable(f"jetson-stats is not installed ({ENABLE_JTOP})") from exc
    return jtop(interval=JTOP_PERIOD_S)


def open_jetson_meter(
    jtop_factory: Callable[[], Any] | None = None, sysfs_root: Path = Path("/sys"),
    run: CommandRunner = run_command, period_s: float | None = None,
) -> PowerMeter:  # fmt: skip
    """jtop when its service runs, else the INA3221 sysfs files; MeterUnavailable with both reasons."""
    try:
        try:
            jetson = (jtop_factory or _default_jtop_factory)()
        except MeterUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever jtop raises, the sysfs files remain
            raise MeterUnavailable(f"jtop failed to start ({exc}); {ENABLE_JTOP}") from exc
        try:
            jetson.start()  # raises JtopException when the jtop service is not running
        except Exception as exc:  # noqa: BLE001 - jtop raises its own JtopException
            raise MeterUnavailable(
                f"the jtop service is not running ({exc}); {ENABLE_JTOP}"
            ) from exc
        try:
            return JetsonJtopMeter(jetson, run, period_s)
        except BaseException:
            jetson.close()
            raise
    except MeterUnavailable as jtop_reason:
        try:
            return JetsonIna3221Meter(sysfs_root, run, period_s)
        except MeterUnavailable as sysfs_reason:
            raise MeterUnavailable(f"{sysfs_reason}; jtop: {jtop_reason}") from sysfs_reason
