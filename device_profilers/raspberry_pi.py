"""Raspberry Pi 5: the PMIC's rail ADCs through `vcgencmd pmic_read_adc`.

Power = sum over rails of voltage x current (each rail prints a `<RAIL>_A current(n)=...A` and a
`<RAIL>_V volt(m)=...V` line). This is the sum of the PMIC's output rails, NOT wall power: it leaves
out the PMIC's own conversion losses, the 5 V that goes straight to USB devices, the fan and HATs,
and the power supply. It tracks the SoC and memory load well, so it is the right signal for
comparing drafts, but wall power is higher; for wall power log an external meter and use
CONFIGSPEC_POWER_CSV. Pi 4 and older have no such PMIC (`vcgencmd` answers `Command not
registered`) and fall through to the estimate. Each call spawns a process (~0.1 s on a Pi 5), so the
default period is 0.5 s.
"""

from __future__ import annotations

import re
import subprocess

from device_profilers.base import MeterUnavailable
from device_profilers.commands import CommandRunner, run_command
from device_profilers.polling import PollingMeter, PowerSample

VCGENCMD = ["vcgencmd", "pmic_read_adc"]
PMIC_PERIOD_S = 0.5
_LINE = re.compile(
    r"^\s*(?P<rail>\S+)_(?P<kind>[AV])\s+(?:current|volt)\(\d+\)=(?P<value>[-+\d.eE]+)"
)


def parse_pmic_read_adc(text: str) -> dict[str, float]:
    """Rail -> watts from `vcgencmd pmic_read_adc` output; rails with only a voltage are skipped."""
    amps: dict[str, float] = {}
    volts: dict[str, float] = {}
    for line in text.splitlines():
        match = _LINE.match(line)
        if match:
            target = amps if match["kind"] == "A" else volts
            target[match["rail"]] = float(match["value"])
    return {rail: volts[rail] * amps[rail] for rail in amps if rail in volts}


class RaspberryPi5Meter(PollingMeter):
    name = "rpi5-pmic"
    source = "measured:rpi5-pmic"
    period_s = PMIC_PERIOD_S

    def __init__(self, run: CommandRunner = run_command, period_s: float | None = None):
        self._command = run
        super().__init__(period_s)

    def read_power(self) -> PowerSample:
        # The one place where vcgencmd failures become MeterUnavailable.
        try:
            out = self._command(VCGENCMD)
        except FileNotFoundError as exc:
            raise MeterUnavailable("Raspberry Pi: vcgencmd not found (not a Raspberry Pi OS "
                                   "install; sudo apt install libraspberrypi-bin)") from exc  # fmt: skip
        except PermissionError as exc:
            raise MeterUnavailable("Raspberry Pi: vcgencmd needs /dev/vcio access: add the user "
                                   "to the `video` group or run as root") from exc  # fmt: skip
        except subprocess.CalledProcessError as exc:
            out = f"{exc.stdout or ''}{exc.stderr or ''}"
            if "error" not in out:
                raise MeterUnavailable(f"Raspberry Pi: {' '.join(VCGENCMD)} failed: {exc}") from exc
        except (OSError, subprocess.SubprocessError) as exc:
            raise MeterUnavailable(f"Raspberry Pi: {' '.join(VCGENCMD)} failed: {exc}") from exc
        if "error" in out and "current(" not in out:
            raise MeterUnavailable(
                "Raspberry Pi: this board has no PMIC power readings (pmic_read_adc is Raspberry "
                f"Pi 5 only; vcgencmd said {out.strip()!r}); the estimate is used"
            )
        rails = parse_pmic_read_adc(out)
        if not rails:
            raise MeterUnavailable(f"Raspberry Pi: no rail readings in {out.strip()[:80]!r}")
        return PowerSample(sum(rails.values()), rails)

    def metadata(self) -> dict[str, str]:
        return {
            "scope": "sum of the PMIC output rails (V x I); excludes PMIC losses, USB devices, fan "
            "and power supply, so it is below wall power",
            "rails": ", ".join(sorted(self.read_power().rails_w)),
        }
