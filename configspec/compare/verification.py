"""Compare two verification profiles: the target's latency to score K+1 tokens, per point.

The profile is matched by (device, target file SHA-256, quantization, threads); its points by
(K, batch, context tokens). A latency is a speed metric read the other way round: the speed ratio
is baseline latency / current latency, so the same tolerance means the same slowdown.
"""

from __future__ import annotations

from configspec.compare.common import (
    cross_cpu_note,
    environment_notes,
    interrupted_notes,
    pair_up,
    speed_is_gated,
    speed_row,
    unmatched_row,
)  # fmt: skip
from configspec.compare.result import Comparison, Thresholds
from configspec.profiles.verification import VerificationProfile
from device_profilers.base import is_measured


def _profile_key(profile: VerificationProfile) -> tuple:
    env = profile.environment
    return (env.device, profile.target_sha256, profile.target_quant, env.threads)


def _label(profile: VerificationProfile) -> str:
    env = profile.environment
    return f"{profile.target} {profile.target_quant} on {env.device}, {env.threads} threads"


def compare_verification(
    baseline: VerificationProfile, current: VerificationProfile, thresholds: Thresholds,
    baseline_path: str = "BASELINE", current_path: str = "CURRENT",
) -> Comparison:  # fmt: skip
    result = Comparison("verification", baseline_path, current_path, thresholds)
    result.notes += cross_cpu_note(baseline.environment, current.environment)
    result.notes += environment_notes(baseline.environment, current.environment)
    result.notes += interrupted_notes(baseline.interrupted, current.interrupted)
    if _profile_key(baseline) != _profile_key(current):
        result.rows.append(unmatched_row(_label(baseline), in_baseline=True))
        result.rows.append(unmatched_row(_label(current), in_baseline=False))
        return result
    label = _label(baseline)
    key = lambda p: (p.k, p.batch, p.context_tokens)  # noqa: E731
    estimated = False
    gated = speed_is_gated(baseline.environment, current.environment)
    for (k, batch, context), b, c in pair_up(baseline.points, current.points, key, "points"):
        where = f"K={k} batch {batch} ctx {context}"
        if b is None or c is None:
            result.rows.append(unmatched_row(f"{label}, {where}", in_baseline=c is None))
            continue
        result.rows.append(speed_row(label, f"verify latency s, {where}", b.latency_s.samples,
                                     c.latency_s.samples, "lower_is_better", thresholds, gated))  # fmt: skip
        if (
            b.energy_j
            and c.energy_j
            and is_measured(b.power_source)
            and is_measured(c.power_source)
        ):
            result.rows.append(speed_row(label, f"verify energy J, {where}", b.energy_j.samples,
                                         c.energy_j.samples, "lower_is_better", thresholds, gated))  # fmt: skip
        elif b.energy_j or c.energy_j:
            estimated = True
    if estimated:
        result.notes.append("energy not compared where power is estimated or missing")
    return result
