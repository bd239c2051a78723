"""Intel (and AMD Zen) RAPL energy counters through Linux powercap (/sys/class/powercap).

Each zone directory `intel-rapl:N` (a CPU package, or `psys` for the platform) and subzone
`intel-rapl:N:M` (core, uncore, dram) holds `name`, `energy_uj` (a counter in microjoules) and
`max_energy_range_uj` (where the counter wraps to zero). The total is the packages plus DRAM: core and
uncore are parts of a package and psys contains the packages, so adding them would count twice.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from device_profilers.base import MeterUnavailable, PowerMeter
from device_profilers.counters import CounterAccumulator

POWERCAP_ROOT = Path("/sys/class/powercap")
_ZONE_DIR = re.compile(r"^(intel|amd)-rapl:\d+(:\d+)?$")
# RAPL updates its counters about every millisecond (Intel SDM vol. 3B, 14.10.1: ~976 us).
RAPL_UPDATE_S = 0.001
# The guard thread reads the counters often enough that none can wrap twice between reads,
# assuming no zone draws more than this (a generous bound for one socket).
_MAX_PLAUSIBLE_ZONE_W = 1000.0

PERMISSION_FIX = (
    "run as root, or allow reading the counters until the next reboot: "
    "sudo chmod a+r /sys/class/powercap/intel-rapl:*/energy_uj "
    "/sys/class/powercap/intel-rapl:*:*/energy_uj"
)


@dataclass(frozen=True)
class RaplZone:
    label: str  # package-0, dram-0, psys ...
    path: Path
    counted: bool  # part of the total (packages and DRAM)


def _read_default(path: Path) -> str:
    return path.read_text()


class RaplMeter(PowerMeter):
    name = "rapl"
    source = "measured:rapl"
    sampling_period_s = RAPL_UPDATE_S

    def __init__(
        self, root: Path = POWERCAP_ROOT, read_text: Callable[[Path], str] = _read_default,
        guard_thread: bool = True,
    ):  # fmt: skip
        self.root = Path(root)
        self._read_text = read_text
        self.zones = self._find_zones()
        self._counters: dict[str, CounterAccumulator] = {}
        for zone in self.zones:
            wrap = self._read_int(zone.path / "max_energy_range_uj")
            self._counters[zone.label] = CounterAccumulator(self._read_raw(zone), wrap)
        self._stop = threading.Event()
        self._guard: threading.Thread | None = None
        if guard_thread:
            smallest_range_j = min(c.wrap_at or 0 for c in self._counters.values()) / 1e6
            period = min(max(smallest_range_j / _MAX_PLAUSIBLE_ZONE_W / 4, 1.0), 60.0)
            self._guard = threading.Thread(target=self._guard_loop, args=(period,),
                                           name="rapl-wrap-guard", daemon=True)  # fmt: skip
            self._guard.start()

    # -- the one place where file-system errors become MeterUnavailable ---------------------------
    def _read_int(self, path: Path) -> int:
        try:
            return int(self._read_text(path).strip())
        except PermissionError as exc:
            raise MeterUnavailable(f"RAPL: cannot read {path} (permission denied); "
                                   f"{PERMISSION_FIX}") from exc  # fmt: skip
        except FileNotFoundError as exc:
            raise MeterUnavailable(f"RAPL: {path} is missing") from exc
        except (OSError, ValueError) as exc:
            raise MeterUnavailable(f"RAPL: cannot read {path}: {exc}") from exc

    def _read_raw(self, zone: RaplZone) -> int:
        return self._read_int(zone.path / "energy_uj")

    def _find_zones(self) -> list[RaplZone]:
        if not self.root.is_dir():
            raise MeterUnavailable(
                f"RAPL: {self.root} does not exist (not Linux, no RAPL-capable Intel/AMD CPU, or a "
                "VM that hides it); load the intel_rapl_msr module on bare metal"
            )
        dirs = sorted(p for p in self.root.iterdir() if _ZONE_DIR.match(p.name))
        if not dirs:
            raise MeterUnavailable(
                f"RAPL: no intel-rapl zones under {self.root} (a VM, or the intel_rapl_msr module "
                "is not loaded: sudo modprobe intel_rapl_msr)"
            )
        zones = []
        for path in dirs:
            try:
                name = self._read_text(path / "name").strip()
            except OSError:
                continue
            top_level = path.name.count(":") == 1
            socket = path.name.split(":")[1]
            if top_level and name.startswith("package"):
                zones.append(RaplZone(name, path, counted=True))
            elif name == "dram":
                zones.append(RaplZone(f"dram-{socket}", path, counted=True))
            else:  # psys, core, uncore: detail only, already inside a counted zone
                zones.append(RaplZone(name if top_level else f"{name}-{socket}", path, False))
        if not any(z.counted for z in zones):
            raise MeterUnavailable(f"RAPL: no package zone under {self.root}")
        return zones

    # -- counters ------------------------------------------------------------------------------
    def _update(self) -> dict[str, int]:
        return {z.label: self._counters[z.label].update(self._read_raw(z)) for z in self.zones}

    def _guard_loop(self, period_s: float) -> None:
        while not self._stop.wait(period_s):
            try:
                self._update()
            except MeterUnavailable:
                return

    def zones_energy_j(self) -> dict[str, float]:
        return {label: uj / 1e6 for label, uj in self._update().items()}

    def energy_j(self) -> float:
        totals = self._update()
        return sum(totals[z.label] for z in self.zones if z.counted) / 1e6

    def metadata(self) -> dict[str, str]:
        counted = ", ".join(z.label for z in self.zones if z.counted)
        return {
            "scope": f"CPU package(s) and DRAM ({counted}); not the whole machine",
            "zones": ", ".join(z.label for z in self.zones),
        }

    def close(self) -> None:
        self._stop.set()
        if self._guard is not None:
            self._guard.join(timeout=1.0)
            self._guard = None
        super().close()
