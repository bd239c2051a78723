"""Pick the best power meter available on this machine, falling back to a labelled estimate.

METER_FACTORIES are tried in order. A whole-device meter (a wall meter's log, a Jetson's board
input rail, a Pi 5's PMIC) ends the search. Part meters (NVML for the GPUs, RAPL for the CPU
packages and DRAM) measure disjoint parts of a PC or server, so every one available is used and
they are summed (`measured:nvml+rapl`). With none, the estimate from the device catalog (or the
user's wattage) is used and labelled `estimated:`. The choice is cached per set of arguments.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from device_profilers.base import MeterUnavailable, PowerMeter
from device_profilers.combined import CombinedMeter
from device_profilers.estimate import EstimatedMeter, estimate_power

POWER_CSV_ENV = "CONFIGSPEC_POWER_CSV"


@dataclass(frozen=True)
class MeterFactory:
    name: str
    open: Callable[[], PowerMeter]  # returns a meter or raises MeterUnavailable with the reason
    whole_device: bool  # True: measures the whole board, so nothing else is needed
    how_to_enable: str


def _open_external_csv() -> PowerMeter:
    from device_profilers.external_csv import ExternalCsvMeter

    path = os.environ.get(POWER_CSV_ENV)
    if not path:
        raise MeterUnavailable(f"{POWER_CSV_ENV} is not set")
    return ExternalCsvMeter(Path(path))


def _open_jetson() -> PowerMeter:
    from device_profilers.jetson import open_jetson_meter

    return open_jetson_meter()


def _open_rpi5() -> PowerMeter:
    from device_profilers.raspberry_pi import RaspberryPi5Meter

    return RaspberryPi5Meter()


def _open_nvml() -> PowerMeter:
    from device_profilers.nvml import open_nvml_meter

    return open_nvml_meter()


def _open_rapl() -> PowerMeter:
    from device_profilers.rapl import RaplMeter

    return RaplMeter()


METER_FACTORIES: list[MeterFactory] = [
    MeterFactory("external-csv", _open_external_csv, True,
                 f"log a wall meter as 'timestamp,watts' rows and set {POWER_CSV_ENV}=<file>"),
    MeterFactory("jetson", _open_jetson, True,
                 "on a Jetson: sudo pip3 install -U jetson-stats (jtop), or run as root for the "
                 "INA3221 sysfs files"),
    MeterFactory("rpi5-pmic", _open_rpi5, True,
                 "on a Raspberry Pi 5: sudo apt install libraspberrypi-bin and join the video group"),
    MeterFactory("nvml", _open_nvml, False,
                 "with an NVIDIA GPU: install the driver and pip install 'configspec[nvidia]'"),
    MeterFactory("rapl", _open_rapl, False,
                 "on Linux with an Intel/AMD CPU (bare metal): sudo chmod a+r "
                 "/sys/class/powercap/intel-rapl:*/energy_uj, or run as root"),
]  # fmt: skip

_cache: dict[tuple, tuple[PowerMeter, dict[str, str]]] = {}
_cache_lock = threading.Lock()


def _detect_sensors(factories: list[MeterFactory]) -> tuple[PowerMeter | None, dict[str, str]]:
    skipped: dict[str, str] = {}
    parts: list[PowerMeter] = []
    for i, factory in enumerate(factories):
        try:
            meter = factory.open()
        except MeterUnavailable as exc:
            skipped[factory.name] = str(exc)
            continue
        except Exception as exc:  # noqa: BLE001 - a broken driver must not stop the profile
            skipped[factory.name] = f"unexpected {type(exc).__name__} while opening: {exc}"
            continue
        if factory.whole_device:
            for part in parts:
                part.close()
            for later in factories[i + 1 :]:
                skipped[later.name] = f"not needed: {factory.name} measures the whole device"
            for earlier in [f.name for f in factories[:i] if f.name not in skipped]:
                skipped[earlier] = f"not needed: {factory.name} measures the whole device"
            return meter.start(), skipped
        parts.append(meter)
    if not parts:
        return None, skipped
    meter = parts[0] if len(parts) == 1 else CombinedMeter(parts)
    return meter.start(), skipped


def detect_meter(
    threads: int | None = None,
    user_active_w: float | None = None,
    user_idle_w: float | None = None,
    prefer_estimate: bool = False,
    refresh: bool = False,
    factories: list[MeterFactory] | None = None,
) -> tuple[PowerMeter, dict[str, str]]:
    """The best meter here and, for every meter tried and not used, why (with how to enable it).

    The same arguments return the same (running) meter until it is closed or `refresh` is set.
    """
    key = (threads, user_active_w, user_idle_w, prefer_estimate, os.environ.get(POWER_CSV_ENV),
           id(factories))  # fmt: skip
    with _cache_lock:
        cached = _cache.get(key)
        if cached and not refresh and not cached[0].closed:
            return cached
        skipped: dict[str, str] = {}
        meter: PowerMeter | None = None
        if user_active_w is not None:
            skipped["sensors"] = "not used: the user gave --power-w"
        elif prefer_estimate:
            skipped["sensors"] = "not used: an estimate was asked for"
        else:
            meter, skipped = _detect_sensors(
                factories if factories is not None else METER_FACTORIES
            )
        if meter is None:
            cores = os.cpu_count() or 1
            estimate = estimate_power(threads or cores, cores, user_active_w=user_active_w,
                                      user_idle_w=user_idle_w)  # fmt: skip
            meter = EstimatedMeter(estimate)
        _cache[key] = (meter, skipped)
        return meter, skipped


def how_to_enable(name: str) -> str | None:
    return next((f.how_to_enable for f in METER_FACTORIES if f.name == name), None)


def clear_cache() -> None:
    """Close and forget every cached meter (tests; a long-running process that changed hardware)."""
    with _cache_lock:
        for meter, _ in _cache.values():
            meter.close()
        _cache.clear()
