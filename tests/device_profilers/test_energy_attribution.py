"""Energy attribution in the drafting profile: per-token energy, zones, idle, short-window warning."""

from __future__ import annotations

import time

import numpy as np
import pytest

from configspec.profiles.drafting import DraftingSettings, PowerInfo
from configspec.profiling.drafting import time_decode
from configspec.profiling.drafting_sweep import new_profile
from device_profilers.estimate import EstimatedMeter, PowerEstimate
from device_profilers.polling import PollingMeter, PowerSample


class SleepyRunner:
    """Decodes by sleeping: the meter, not the model, is under test."""

    def __init__(self, step_s: float):
        self.step_s = step_s
        self.n_past = 0

    def forward(self, tokens, all_logits=False):
        time.sleep(self.step_s * len(tokens))
        self.n_past += len(tokens)
        return np.eye(8)[len(tokens) % 8]

    def rollback(self, n_past):
        self.n_past = n_past

    def reset(self):
        self.n_past = 0


class TwoRailMeter(PollingMeter):
    name = "tworail"
    source = "measured:tworail"

    def read_power(self) -> PowerSample:
        return PowerSample(9.0, {"cpu": 6.0, "soc": 3.0})


def test_energy_per_token_zones_and_window_lengths() -> None:
    meter = TwoRailMeter(period_s=0.005).start()
    settings = DraftingSettings(repetitions=2, warmup_tokens=1, decode_tokens=10)
    result, warnings = time_decode(SleepyRunner(0.01), [1, 2, 3], settings, meter)
    meter.close()
    assert warnings == []
    assert result.power_source == "measured:tworail"
    assert len(result.window_s) == 2 and min(result.window_s) >= 0.1
    assert result.power_w.mean == pytest.approx(9.0, rel=0.05)
    # energy per drafted token = window energy / tokens = power x window / tokens
    expected = [9.0 * w / 10 for w in result.window_s]
    assert result.energy_j_per_token.samples == pytest.approx(expected, rel=0.05)
    assert result.zones_power_w == pytest.approx({"cpu": 6.0, "soc": 3.0}, rel=0.05)
    assert result.short_windows == 0


def test_windows_shorter_than_the_update_period_warn_with_the_remedy() -> None:
    meter = TwoRailMeter(period_s=0.5).start()  # like a Pi 5 PMIC read through vcgencmd
    settings = DraftingSettings(repetitions=2, warmup_tokens=1, decode_tokens=4)
    result, warnings = time_decode(SleepyRunner(0.01), [1, 2], settings, meter)
    meter.close()
    assert result.short_windows == 2
    assert len(warnings) == 1
    assert "shorter than the tworail meter's update period 0.500s" in warnings[0]
    assert "raise --tokens to at least" in warnings[0]


def test_profile_records_idle_power_sampling_rate_and_metadata(monkeypatch) -> None:
    import configspec.profiling.drafting_sweep as sweep

    monkeypatch.setattr(sweep, "IDLE_S", 0.3)
    meter = TwoRailMeter(period_s=0.01).start()
    profile = new_profile("dev", DraftingSettings(), meter, {"rapl": "no powercap"}, "fake", "0")
    meter.close()
    power = profile.power
    assert power.idle_power_w == pytest.approx(9.0, rel=0.05)
    assert power.idle_duration_s == pytest.approx(0.3, abs=0.1)
    assert power.sampling_period_s == 0.01 and power.sampling_rate_hz == pytest.approx(100.0)
    assert power.meters_skipped == {"rapl": "no powercap"}

    estimate = EstimatedMeter(PowerEstimate(2.0, 6.0, "estimated:user", "given"))
    profile = new_profile("dev", DraftingSettings(), estimate, {}, "fake", "0")
    assert profile.power.sampling_rate_hz is None
    assert profile.power.metadata["basis"] == "given"


def test_profiles_written_before_these_fields_still_load() -> None:
    old = {"source": "measured:rapl", "sampling_period_s": 0.001, "idle_power_w": 3.0,
           "idle_source": "measured:rapl"}  # fmt: skip
    info = PowerInfo.model_validate(old)
    assert info.metadata == {} and info.sampling_rate_hz is None
