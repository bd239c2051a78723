"""Verification latency: one target forward over K + 1 tokens per sequence on a warm KV cache.

For each context length the context is prefilled once into sequence 0 and copied to the other
sequences (Runner.share_prefix); each timed call appends K + 1 tokens to every sequence in ONE
forward call with every row's logits returned (verification reads them all), and the cache is
rolled back to the context after it, so every repetition starts from the same state
(llama-bench's warm-up + repetitions; only the forward call is timed). Energy is read from the
power meter over windows of consecutive calls, at least as long as the meter's update period.

With `passes` > 1 the whole grid is swept that many times, each pass timing its share of the
repetitions, and a point keeps the samples of every pass. A shared machine's speed drifts by
10-30% over minutes (docs/verification.md); one pass times each context in its own stretch of
minutes, so the drift reads as a context effect. Passes cost one prefill per context each.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from configspec.profiles.summary import Summary
from configspec.profiles.verification import VerificationProfile, VerifyPoint, VerifySettings
from configspec.profiling.drafting import profile_tokens
from configspec.runners.base import Runner
from device_profilers.base import PowerMeter


def verify_tokens(runner: Runner, context: int, k_max: int) -> tuple[list[int], list[int]]:
    """The context (starting with BOS) and the K_max + 1 tokens of text that follow it."""
    tokens = profile_tokens(runner, context + k_max + 1)
    return tokens[:context], tokens[context:]


def energy_window_calls(meter: PowerMeter, call_s: float) -> int:
    """Calls per energy window so that the window spans >= 2 meter update periods."""
    if meter.sampling_period_s <= 0 or call_s <= 0:
        return 1
    return max(1, math.ceil(2 * meter.sampling_period_s / call_s))


def time_point(
    runner: Runner, context_len: int, batch: int, k: int, next_tokens: list[int],
    repetitions: int, warmup_calls: int, meter: PowerMeter,
) -> tuple[VerifyPoint, list[str]]:  # fmt: skip
    """Time `repetitions` calls over K + 1 tokens x `batch` sequences standing at `context_len`."""
    feed = [list(next_tokens[: k + 1]) for _ in range(batch)]
    clock = time.perf_counter
    warm_s = []
    for _ in range(warmup_calls):
        t0 = clock()
        runner.forward_batch(feed, all_logits=True)
        warm_s.append(clock() - t0)
        runner.rollback(context_len)
    group = energy_window_calls(meter, min(warm_s) if warm_s else 0.0)
    latency, energy = [], []
    warnings: list[str] = []
    source = meter.source
    done = 0
    while done < repetitions:
        calls = min(group, repetitions - done)
        window = meter.start_window()
        for _ in range(calls):
            t0 = clock()
            runner.forward_batch(feed, all_logits=True)
            latency.append(clock() - t0)
            runner.rollback(context_len)
        reading = meter.end_window(window)
        source = reading.source
        if 0 < reading.duration_s < meter.sampling_period_s:
            warnings.append(
                f"verification energy window {reading.duration_s:.3f}s is shorter than the "
                f"meter's update period {meter.sampling_period_s:.3f}s: raise --repetitions"
            )
        energy.append(reading.energy_j / calls)
        done += calls
    point = VerifyPoint(
        k=k, batch=batch, context_tokens=context_len, latency_s=Summary.of(latency),
        energy_j=Summary.of(energy), power_source=source, calls_per_energy_window=group,
    )  # fmt: skip
    return point, warnings


def measure_verification(
    runner: Runner, profile: VerificationProfile, settings: VerifySettings,
    meter: PowerMeter, save: Callable[[], None] = lambda: None,
    on_point: Callable[[VerifyPoint], None] | None = None,
) -> VerificationProfile:  # fmt: skip
    """Measure every (context, batch, K) point into `profile`, calling `save` after each
    (context, batch) group; on Ctrl-C mark the profile interrupted, save it and re-raise.
    `on_point` hears of each point once per pass."""
    batches = supported_batches(runner, settings.batch_sizes)
    skipped = sorted(set(settings.batch_sizes) - set(batches))
    if skipped:
        profile.warnings.append(
            f"batch sizes {skipped} skipped: the {runner.backend} runner holds at most "
            f"{runner.max_sequences} sequence(s) per call"
        )
    merged: dict[tuple[int, int, int], VerifyPoint] = {}
    try:
        for index in range(settings.passes):
            repetitions = settings.repetitions_in_pass(index)
            if repetitions == 0:
                break
            for context_len in settings.contexts:
                context, next_tokens = verify_tokens(runner, context_len, settings.k_max)
                runner.reset()
                runner.forward(context)  # prefill once; sequences 1.. copy it
                for batch in batches:
                    runner.rollback(context_len)
                    runner.share_prefix(batch)
                    for k in settings.ks_at(batch):
                        point, warnings = time_point(
                            runner, context_len, batch, k, next_tokens, repetitions,
                            settings.warmup_calls, meter,
                        )  # fmt: skip
                        key = (context_len, batch, k)
                        merged[key] = merged_point(merged[key], point) if key in merged else point
                        profile.points = list(merged.values())
                        profile.warnings = sorted(set(profile.warnings) | set(warnings))
                        if on_point:
                            on_point(point)
                    save()
    except KeyboardInterrupt:
        profile.interrupted = True
        if profile.points:
            save()
        raise
    finally:
        runner.reset()
    return profile


def merged_point(first: VerifyPoint, later: VerifyPoint) -> VerifyPoint:
    """One point from two passes over it: every latency and energy sample of both."""
    energy = (
        Summary.of(first.energy_j.samples + later.energy_j.samples)
        if first.energy_j is not None and later.energy_j is not None
        else None
    )
    windows = [w for w in (first.calls_per_energy_window, later.calls_per_energy_window) if w]
    return first.model_copy(update={
        "latency_s": Summary.of(first.latency_s.samples + later.latency_s.samples),
        "energy_j": energy, "calls_per_energy_window": max(windows) if windows else None,
    })  # fmt: skip


def supported_batches(runner: Runner, batch_sizes: list[int]) -> list[int]:
    return [b for b in batch_sizes if b <= runner.max_sequences]
