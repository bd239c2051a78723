"""What hardware this is and how much power it draws. Knows nothing of LLMs.

One `PowerMeter` per platform, one `detect_meter` that picks the best available and falls back to a
clearly labelled estimate.
"""

from device_profilers.base import EnergyReading, MeterUnavailable, PowerMeter
from device_profilers.detect import detect_meter
from device_profilers.estimate import EstimatedMeter
from device_profilers.host import describe_host

__all__ = [
    "EnergyReading",
    "EstimatedMeter",
    "MeterUnavailable",
    "PowerMeter",
    "describe_host",
    "detect_meter",
]
