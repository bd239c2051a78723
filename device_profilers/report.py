"""What `configspec devices` prints: the host, the meter chosen, and why every other one was not."""

from __future__ import annotations

from device_profilers.detect import detect_meter, how_to_enable
from device_profilers.host import describe_host


def devices_report(threads: int) -> list[tuple[str, str]]:
    """(label, text) rows; the meter found is closed again before returning."""
    meter, skipped = detect_meter(threads=threads, refresh=True)
    try:
        rows = [(key, str(value)) for key, value in describe_host().items()]
        rows.append(("power meter", meter.source))
        if meter.source.startswith("estimated:"):
            rows.append(("", "no sensor found: every energy figure will be labelled an estimate"))
        else:
            rows.append(("sampling period", f"{meter.sampling_period_s:g} s"))
            rows.append(("power now", f"{meter.power_w():.2f} W"))
        rows += [(key, value) for key, value in meter.metadata().items()]
        for name, why in skipped.items():
            rows.append((f"not {name}", why))
            fix = how_to_enable(name)
            if fix and not why.startswith("not needed"):
                rows.append(("to enable", fix))
    finally:
        meter.close()
    return rows
