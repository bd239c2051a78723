"""Faithful fakes of each meter's interface: sysfs trees, an nvidia-ml-py module, a jtop client.

The fakes draw a constant, known power, like hardware under a steady load: counters advance with the
clock (RAPL's energy_uj files rewritten by a "hardware" thread, NVML's counter computed from time),
instantaneous sensors report fixed values.
"""

from __future__ import annotations

import threading
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

FIXTURES = Path(__file__).with_name("fixtures")


# -- RAPL: /sys/class/powercap ------------------------------------------------------------------
@dataclass
class RaplZoneSpec:
    dirname: str  # intel-rapl:0, intel-rapl:0:1 ...
    name: str  # package-0, dram, core, psys
    watts: float
    start_uj: int = 0
    max_uj: int = 262_143_328_850  # a typical max_energy_range_uj


def make_rapl_tree(root: Path, zones: list[RaplZoneSpec]) -> Path:
    """Write a powercap tree as the kernel lays it out (subzones nested and linked at the top)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "intel-rapl").mkdir(exist_ok=True)
    (root / "intel-rapl" / "enabled").write_text("1\n")
    for z in zones:
        d = root / z.dirname
        d.mkdir(exist_ok=True)
        (d / "name").write_text(z.name + "\n")
        (d / "energy_uj").write_text(f"{z.start_uj}\n")
        (d / "max_energy_range_uj").write_text(f"{z.max_uj}\n")
    return root


def set_energy_uj(root: Path, dirname: str, value: int) -> None:
    # sysfs reads are atomic: never let the meter see a half-written file.
    tmp = root / dirname / "energy_uj.tmp"
    tmp.write_text(f"{value}\n")
    tmp.replace(root / dirname / "energy_uj")


class RaplHardware:
    """The kernel side of energy_uj: like the MSR it comes from, the value is computed when read,
    here from the clock at each zone's wattage, wrapping at max_energy_range_uj.

    Pass `hardware.read_text` to RaplMeter; the other files (name, max_energy_range_uj) come from
    the tree on disk.
    """

    def __init__(self, zones: list[RaplZoneSpec]):
        self.zones = {z.dirname: z for z in zones}
        self.t0 = time.perf_counter()
        self.wraps_seen: dict[str, int] = dict.fromkeys(self.zones, 0)

    def read_text(self, path: Path) -> str:
        if path.name != "energy_uj":
            return path.read_text()
        z = self.zones[path.parent.name]
        total = z.start_uj + int(z.watts * (time.perf_counter() - self.t0) * 1e6)
        self.wraps_seen[z.dirname] = total // z.max_uj
        return f"{total % z.max_uj}\n"


# -- nvidia-ml-py ------------------------------------------------------------------------------
@dataclass
class FakeGpu:
    name: str = "NVIDIA H100 80GB HBM3"
    watts: float = 100.0
    has_energy_counter: bool = True
    counter_start_mj: int = 0
    #: None: the counter follows the clock; otherwise the test sets `counter_mj` by hand.
    manual_counter: bool = False
    counter_mj: int = 0
    t0: float = field(default_factory=time.perf_counter)

    def energy_mj(self) -> int:
        if self.manual_counter:
            return self.counter_mj
        return self.counter_start_mj + int(self.watts * (time.perf_counter() - self.t0) * 1e3)


def make_fake_pynvml(gpus: list[FakeGpu], init_error: int | None = None) -> types.ModuleType:
    """A module with the names configspec uses from nvidia-ml-py, raising NVMLError like it does."""
    nvml = types.ModuleType("pynvml")
    nvml.NVML_SUCCESS = 0
    nvml.NVML_ERROR_UNINITIALIZED = 1
    nvml.NVML_ERROR_NOT_SUPPORTED = 3
    nvml.NVML_ERROR_NO_PERMISSION = 4
    nvml.NVML_ERROR_DRIVER_NOT_LOADED = 9
    nvml.NVML_ERROR_LIBRARY_NOT_FOUND = 12
    nvml.NVML_ERROR_GPU_IS_LOST = 15
    messages = {3: "Not Supported", 4: "Insufficient Permissions", 9: "Driver Not Loaded",
                12: "NVML Shared Library Not Found", 1: "Uninitialized"}  # fmt: skip

    class NVMLError(Exception):
        def __init__(self, value: int):
            super().__init__(value)
            self.value = value

        def __str__(self) -> str:
            return messages.get(self.value, f"Unknown Error {self.value}")

    nvml.NVMLError = NVMLError
    nvml.calls = {"init": 0, "shutdown": 0}
    state = {"ready": False}

    def check() -> None:
        if not state["ready"]:
            raise NVMLError(nvml.NVML_ERROR_UNINITIALIZED)

    def nvmlInit() -> None:
        if init_error is not None:
            raise NVMLError(init_error)
        nvml.calls["init"] += 1
        state["ready"] = True

    def nvmlShutdown() -> None:
        check()
        nvml.calls["shutdown"] += 1
        state["ready"] = False

    def nvmlDeviceGetCount() -> int:
        check()
        return len(gpus)

    def nvmlDeviceGetHandleByIndex(i: int) -> FakeGpu:
        check()
        return gpus[i]

    def nvmlDeviceGetName(handle: FakeGpu) -> str:
        return handle.name

    def nvmlDeviceGetPowerUsage(handle: FakeGpu) -> int:
        check()
        return int(handle.watts * 1e3)

    def nvmlDeviceGetTotalEnergyConsumption(handle: FakeGpu) -> int:
        check()
        if not handle.has_energy_counter:
            raise NVMLError(nvml.NVML_ERROR_NOT_SUPPORTED)
        return handle.energy_mj()

    for fn in (nvmlInit, nvmlShutdown, nvmlDeviceGetCount, nvmlDeviceGetHandleByIndex,
               nvmlDeviceGetName, nvmlDeviceGetPowerUsage, nvmlDeviceGetTotalEnergyConsumption):  # fmt: skip
        setattr(nvml, fn.__name__, fn)
    return nvml


# -- Jetson: jtop and INA3221 sysfs -------------------------------------------------------------
class JtopException(Exception):
    """jtop's own exception type (jtop.JtopException)."""


class FakeJtop:
    """The parts of `jtop.jtop` the meter uses: start(), power, nvpmodel, close()."""

    def __init__(self, rails_mw: dict[str, int], total_name: str | None = "VDD_IN",
                 nvpmodel: str | None = "15W", service_running: bool = True):  # fmt: skip
        self.rails_mw, self.total_name = rails_mw, total_name
        self.nvpmodel = nvpmodel
        self.service_running = service_running
        self.started = self.closed = False

    def start(self) -> None:
        if not self.service_running:
            raise JtopException("The jtop.service is not active. Please run:\nsudo systemctl "
                                "restart jtop.service")  # fmt: skip
        self.started = True

    @property
    def power(self) -> dict:
        # jtop moves the input rail out of 'rail' into 'tot' (jtop/core/power.py total_power).
        rails = {n: {"volt": 5000, "curr": mw // 5, "power": mw, "avg": mw}
                 for n, mw in self.rails_mw.items()}  # fmt: skip
        if self.total_name and self.total_name in rails:
            tot = dict(rails.pop(self.total_name), name=self.total_name)
        else:
            tot = {"power": sum(self.rails_mw.values()), "avg": sum(self.rails_mw.values())}
        return {"rail": rails, "tot": tot}

    def close(self) -> None:
        self.closed = True


def make_ina3221_hwmon_tree(sys_root: Path, rails: dict[str, tuple[int, int]]) -> Path:
    """JetPack 5+ layout: rails name -> (mV, mA) on channels 1..3; an NC channel and channel 7."""
    dev = sys_root / "bus" / "i2c" / "devices" / "1-0040"
    hw = dev / "hwmon" / "hwmon3"
    hw.mkdir(parents=True)
    (dev / "name").write_text("ina3221\n")
    (sys_root / "bus" / "i2c" / "devices" / "0-0050").mkdir()
    (sys_root / "bus" / "i2c" / "devices" / "0-0050" / "name").write_text("24c02\n")
    for number, (rail, (mv, ma)) in enumerate(rails.items(), start=1):
        (hw / f"in{number}_label").write_text(rail + "\n")
        (hw / f"in{number}_input").write_text(f"{mv}\n")
        (hw / f"curr{number}_input").write_text(f"{ma}\n")
    (hw / "in4_label").write_text("NC\n")
    (hw / "in4_input").write_text("0\n")
    (hw / "in7_label").write_text("sum of shunt voltages\n")
    (hw / "in7_input").write_text("123\n")
    return sys_root


def make_ina3221_iio_tree(sys_root: Path, rails_mw: dict[str, int]) -> Path:
    """JetPack 4 layout: iio:deviceN/rail_name_K and in_powerK_input (mW)."""
    dev = sys_root / "bus" / "i2c" / "devices" / "6-0040"
    iio = dev / "iio:device0"
    iio.mkdir(parents=True)
    (dev / "name").write_text("ina3221x\n")
    for number, (rail, mw) in enumerate(rails_mw.items()):
        (iio / f"rail_name_{number}").write_text(rail + "\n")
        (iio / f"in_power{number}_input").write_text(f"{mw}\n")
    return sys_root


def nvpmodel_runner(mode: str = "15W"):
    def run(argv: list[str]) -> str:
        assert argv == ["nvpmodel", "-q"], argv
        return f"NV Power Mode: {mode}\n0\n"

    return run


# -- Raspberry Pi: vcgencmd ---------------------------------------------------------------------
def vcgencmd_runner(fixture: str = "pi5_pmic_read_adc.txt"):
    """A command runner that answers `vcgencmd pmic_read_adc` with a recorded output."""
    text = (FIXTURES / fixture).read_text()
    calls: list[list[str]] = []

    def run(argv: list[str]) -> str:
        calls.append(argv)
        assert argv == ["vcgencmd", "pmic_read_adc"], argv
        return text

    run.calls = calls  # type: ignore[attr-defined]
    return run


# -- an external meter's CSV log ----------------------------------------------------------------
class CsvLogger:
    """Appends `timestamp,watts` rows like a wall-meter logger, every `period_s`."""

    def __init__(self, path: Path, watts: float, period_s: float = 0.02):
        self.path, self.watts, self.period_s = path, watts, period_s
        self._stop = threading.Event()
        path.write_text("timestamp,watts\n")
        self.write_row()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def write_row(self) -> None:
        with self.path.open("a") as f:
            f.write(f"{time.time():.6f},{self.watts}\n")

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self.write_row()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
