"""What hardware this is and how much power it draws. Knows nothing of LLMs.

One `PowerMeter` per platform (one file per vendor: nvml, jetson, rapl, raspberry_pi, external_csv),
one `detect_meter` that tries them in order and falls back to a clearly labelled estimate.
"""

from device_profilers.base import EnergyReading, MeterUnavailable, PowerMeter, Window
from device_profilers.detect import METER_FACTORIES, detect_meter, how_to_enable
from device_profilers.estimate import EstimatedMeter
from device_profilers.host import describe_host
from device_profilers.polling import PollingMeter, PowerSample

__all__ = [
    "METER_FACTORIES",
    "EnergyReading",
    "EstimatedMeter",
    "MeterUnavailable",
    "PollingMeter",
    "PowerMeter",
    "PowerSample",
    "Window",
    "describe_host",
    "detect_meter",
    "how_to_enable",
]
