"""Pick the best power meter available on this machine, falling back to a labelled estimate."""

from __future__ import annotations

import os
from collections.abc import Callable

from device_profilers.base import MeterUnavailable, PowerMeter
from device_profilers.estimate import EstimatedMeter, estimate_power

# Real meters, best first. Each factory returns a meter or raises MeterUnavailable with the reason.
METER_FACTORIES: list[tuple[str, Callable[[], PowerMeter]]] = []


def detect_meter(
    threads: int | None = None,
    user_active_w: float | None = None,
    user_idle_w: float | None = None,
    prefer_estimate: bool = False,
) -> tuple[PowerMeter, dict[str, str]]:
    """The best meter here and, for every meter tried and skipped, why it was not used."""
    skipped: dict[str, str] = {}
    if user_active_w is None and not prefer_estimate:
        for name, factory in METER_FACTORIES:
            try:
                return factory(), skipped
            except MeterUnavailable as exc:
                skipped[name] = str(exc)
    cores = os.cpu_count() or 1
    estimate = estimate_power(threads or cores, cores, user_active_w=user_active_w,
                              user_idle_w=user_idle_w)  # fmt: skip
    return EstimatedMeter(estimate), skipped
