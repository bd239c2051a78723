"""NVIDIA GPUs through NVML (the `nvidia-ml-py` package, imported as `pynvml`).

Volta and newer keep a total-energy counter (millijoules since the driver loaded); it is read at the
window ends and restarts from zero when the driver reloads, which the accumulator absorbs. Older GPUs
only report power (milliwatts), which a background thread samples and integrates. Several GPUs are
summed, with one zone per GPU.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from types import ModuleType

from device_profilers.base import MeterUnavailable, PowerMeter
from device_profilers.counters import CounterAccumulator
from device_profilers.polling import PollingMeter, PowerSample

# The energy counter moves in steps of roughly this period on the GPUs we know of (observed, not
# documented by NVML); a window shorter than it can read zero.
NVML_COUNTER_UPDATE_S = 0.1
NVML_POLL_PERIOD_S = 0.1

# NVML return codes (nvml.h); read from the module when it defines them.
_CODES = {
    "NVML_ERROR_UNINITIALIZED": 1, "NVML_ERROR_NOT_SUPPORTED": 3, "NVML_ERROR_NO_PERMISSION": 4,
    "NVML_ERROR_DRIVER_NOT_LOADED": 9, "NVML_ERROR_LIBRARY_NOT_FOUND": 12,
    "NVML_ERROR_GPU_IS_LOST": 15, "NVML_ERROR_INSUFFICIENT_POWER": 8,
}  # fmt: skip
_FIXES = {
    "NVML_ERROR_LIBRARY_NOT_FOUND": "libnvidia-ml.so is missing: install the NVIDIA driver",
    "NVML_ERROR_DRIVER_NOT_LOADED": "the NVIDIA driver is not loaded: check `nvidia-smi`, reboot",
    "NVML_ERROR_NO_PERMISSION": "no permission to query the GPU: run as root or a user in the "
    "`video` group",
    "NVML_ERROR_GPU_IS_LOST": "the GPU fell off the bus: check `dmesg`, reset or reboot",
    "NVML_ERROR_INSUFFICIENT_POWER": "a GPU power cable is not connected",
}


def import_pynvml() -> ModuleType:
    try:
        import pynvml
    except ImportError as exc:
        raise MeterUnavailable(
            "NVML: nvidia-ml-py is not installed: pip install 'configspec[nvidia]'"
        ) from exc
    return pynvml


def _code_name(pynvml: ModuleType, value: int) -> str | None:
    for name, default in _CODES.items():
        if getattr(pynvml, name, default) == value:
            return name
    return None


class NotSupported(Exception):
    """The GPU lacks this query (e.g. no energy counter before Volta); the caller picks another."""


@contextlib.contextmanager
def nvml_errors(pynvml: ModuleType, what: str) -> Iterator[None]:
    """The one place where NVMLError becomes MeterUnavailable (with the fix) or NotSupported."""
    try:
        yield
    except pynvml.NVMLError as exc:
        code = _code_name(pynvml, getattr(exc, "value", -1))
        if code == "NVML_ERROR_NOT_SUPPORTED":
            raise NotSupported(what) from exc
        fix = _FIXES.get(code or "", "")
        raise MeterUnavailable(
            f"NVML: {what} failed ({exc})" + (f": {fix}" if fix else "")
        ) from exc


class _Gpus:
    """NVML initialised once, with handles and names for the GPUs measured."""

    def __init__(self, pynvml: ModuleType, indices: Sequence[int] | None):
        self.nvml = pynvml
        with nvml_errors(pynvml, "nvmlInit"):
            pynvml.nvmlInit()
        try:
            with nvml_errors(pynvml, "nvmlDeviceGetCount"):
                count = pynvml.nvmlDeviceGetCount()
            if count == 0:
                raise MeterUnavailable("NVML: the driver sees no NVIDIA GPU")
            self.indices = list(indices) if indices is not None else list(range(count))
            if bad := [i for i in self.indices if not 0 <= i < count]:
                raise MeterUnavailable(f"NVML: no GPU {bad} (this machine has {count})")
            self.handles, self.names = [], []
            for i in self.indices:
                with nvml_errors(pynvml, f"GPU {i} handle"):
                    handle = pynvml.nvmlDeviceGetHandleByIndex(i)
                    name = pynvml.nvmlDeviceGetName(handle)
                self.handles.append(handle)
                self.names.append(name.decode() if isinstance(name, bytes) else str(name))
        except BaseException:
            self.shutdown()
            raise
        self._closed = False

    def power_mw(self) -> list[int]:
        out = []
        for i, handle in zip(self.indices, self.handles, strict=True):
            with nvml_errors(self.nvml, f"GPU {i} power"):
                out.append(self.nvml.nvmlDeviceGetPowerUsage(handle))
        return out

    def energy_mj(self) -> list[int]:
        out = []
        for i, handle in zip(self.indices, self.handles, strict=True):
            with nvml_errors(self.nvml, f"GPU {i} energy counter"):
                out.append(self.nvml.nvmlDeviceGetTotalEnergyConsumption(handle))
        return out

    def describe(self) -> str:
        return "; ".join(f"{i}: {n}" for i, n in zip(self.indices, self.names, strict=True))

    def shutdown(self) -> None:
        if getattr(self, "_closed", False):
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self.nvml.nvmlShutdown()


class NvmlEnergyMeter(PowerMeter):
    """The GPUs' total-energy counters, read at the ends of each window."""

    name = "nvml"
    source = "measured:nvml"
    sampling_period_s = NVML_COUNTER_UPDATE_S

    def __init__(self, gpus: _Gpus):
        self.gpus = gpus
        self._counters = [CounterAccumulator(raw) for raw in gpus.energy_mj()]

    def zones_energy_j(self) -> dict[str, float]:
        raws = self.gpus.energy_mj()
        return {f"gpu{i}": c.update(raw) / 1e3
                for i, c, raw in zip(self.gpus.indices, self._counters, raws, strict=True)}  # fmt: skip

    def energy_j(self) -> float:
        return sum(self.zones_energy_j().values())

    @property
    def resets(self) -> int:
        return sum(c.resets for c in self._counters)

    def power_w(self) -> float:
        try:
            return sum(self.gpus.power_mw()) / 1e3
        except NotSupported:
            return super().power_w()

    def metadata(self) -> dict[str, str]:
        return {"gpus": self.gpus.describe(), "method": "total-energy counter",
                "scope": "GPU board power only; the host CPU is not included"}  # fmt: skip

    def close(self) -> None:
        self.gpus.shutdown()
        super().close()


class NvmlPollingMeter(PollingMeter):
    """GPUs without the energy counter: power (a moving average on recent GPUs) sampled and held."""

    name = "nvml"
    source = "measured:nvml-power-polled"
    period_s = NVML_POLL_PERIOD_S

    def __init__(self, gpus: _Gpus, period_s: float | None = None):
        self.gpus = gpus
        super().__init__(period_s)

    def read_power(self) -> PowerSample:
        try:
            watts = [mw / 1e3 for mw in self.gpus.power_mw()]
        except NotSupported as exc:
            raise MeterUnavailable("NVML: this GPU reports neither energy nor power") from exc
        rails = {f"gpu{i}": w for i, w in zip(self.gpus.indices, watts, strict=True)}
        return PowerSample(sum(watts), rails)

    def metadata(self) -> dict[str, str]:
        return {"gpus": self.gpus.describe(), "method": f"power polled every {self.period_s}s",
                "scope": "GPU board power only; the host CPU is not included"}  # fmt: skip

    def close(self) -> None:
        super().close()  # stop the sampling thread before NVML goes away
        self.gpus.shutdown()


def open_nvml_meter(
    pynvml: ModuleType | None = None, gpu_indices: Sequence[int] | None = None,
    period_s: float | None = None,
) -> PowerMeter:  # fmt: skip
    """The energy-counter meter where every GPU has the counter, else the polling meter."""
    gpus = _Gpus(pynvml or import_pynvml(), gpu_indices)
    try:
        return NvmlEnergyMeter(gpus)
    except NotSupported:
        pass
    except BaseException:
        gpus.shutdown()
        raise
    try:
        return NvmlPollingMeter(gpus, period_s)
    except BaseException:
        gpus.shutdown()
        raise
