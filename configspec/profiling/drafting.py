"""Drafting profile: decode and prefill throughput, and power, per draft x quantization.

The loop follows llama-bench: a warm-up, then N repetitions with the decoded tokens cleared from the
KV cache between them, timing only the forward calls (greedy argmax happens outside the timed region).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib import resources

import numpy as np

from configspec.profiles.drafting import BatchPoint, DecodeAtContext, DraftingSettings, Prefill
from configspec.profiles.summary import Summary
from configspec.runners.base import Runner
from device_profilers.base import PowerMeter

# Draft forwards timed per context: K + 1 tokens for K = 1, 4, 8, 16 (as verify-latency's grid).
DEFAULT_BATCH_TOKENS = (2, 5, 9, 17)


def profile_tokens(runner: Runner, n_tokens: int) -> list[int]:
    """`n_tokens` tokens of the shipped profiling text (repeated if needed), starting with BOS."""
    text = resources.files("configspec.data").joinpath("profile_text.txt").read_text()
    tokens = runner.tokenize(text, add_special=True)
    body = runner.tokenize(text, add_special=False)
    while len(tokens) < n_tokens:
        tokens += body
    return tokens[:n_tokens]


def time_prefill(runner: Runner, prompt: list[int], repetitions: int) -> Prefill:
    samples = []
    for _ in range(repetitions):
        runner.reset()
        t0 = time.perf_counter()
        runner.forward(prompt)
        samples.append(time.perf_counter() - t0)
    runner.reset()
    rates = [len(prompt) / s for s in samples]
    return Prefill(prompt_tokens=len(prompt), tokens_per_s=Summary.of(rates), samples_s=samples)


def time_batch(runner: Runner, context: list[int], tokens: int, repetitions: int) -> BatchPoint:
    """One forward call over `tokens` tokens standing at `context`, the last row's logits only
    (llama.cpp's draft-simple re-reads [last token, drafts] so each round, common/speculative.cpp
    process()); the cache is rolled back after each call, after one untimed warm-up call."""
    feed = profile_tokens(runner, len(context) + tokens)[len(context) :]
    runner.reset()
    runner.forward(context)
    samples = []
    for _ in range(repetitions + 1):
        t0 = time.perf_counter()
        runner.forward(feed)
        samples.append(time.perf_counter() - t0)
        runner.rollback(len(context))
    runner.reset()
    return BatchPoint(context_tokens=len(context), tokens=tokens,
                      latency_s=Summary.of(samples[1:]))  # fmt: skip


def timed_decode(runner: Runner, first_token: int, n_tokens: int) -> list[float]:
    """Decode `n_tokens` greedily from the current cache; the time of each forward call."""
    step_s = []
    token = first_token
    clock = time.perf_counter
    for _ in range(n_tokens):
        t0 = clock()
        logits = runner.forward([token])
        step_s.append(clock() - t0)
        token = int(np.argmax(logits))
    return step_s


def time_decode(
    runner: Runner, context: list[int], settings: DraftingSettings, meter: PowerMeter,
    on_repetition: Callable[[], None] | None = None,
) -> tuple[DecodeAtContext, list[str]]:  # fmt: skip
    """Decode throughput and energy after `context` tokens are in the cache."""
    prompt, first = context[:-1], context[-1]
    warnings: list[str] = []
    # The context is prefilled once; between repetitions the cache is rolled back to it, so every
    # decoded token is cleared and each repetition starts from the same state (llama-bench's -d).
    runner.reset()
    if prompt:
        runner.forward(prompt)
    timed_decode(runner, first, settings.warmup_tokens)
    runner.rollback(len(prompt))
    steps, rates, energy_per_token, power, windows, zones = [], [], [], [], [], []
    source = meter.source
    errors_before = meter.errors
    for _ in range(settings.repetitions):
        window = meter.start_window()
        step_s = timed_decode(runner, first, settings.decode_tokens)
        reading = meter.end_window(window)
        runner.rollback(len(prompt))
        steps.append(step_s)
        rates.append(len(step_s) / sum(step_s))
        # Energy per drafted token: the window's energy (the whole device's draw, idle included)
        # over the tokens decoded in it.
        energy_per_token.append(reading.energy_j / len(step_s))
        power.append(reading.mean_power_w)
        windows.append(reading.duration_s)
        zones.append(reading.zone_power_w())
        source = reading.source
        if on_repetition:
            on_repetition()
    runner.reset()
    short = sum(1 for w in windows if 0 < w < meter.sampling_period_s)
    if short:
        warnings.append(
            f"{short} decode window(s) of {min(windows):.3f}s at context {len(context)} are shorter "
            f"than the {meter.name} meter's update period {meter.sampling_period_s:.3f}s, so their "
            f"energy is unreliable: raise --tokens to at least "
            f"{settings.decode_tokens * meter.sampling_period_s / min(windows):.0f}"
        )
    if (failed := meter.errors - errors_before) > 0:
        warnings.append(f"{failed} {meter.name} sensor read(s) failed while decoding; power was held "
                        f"at the last reading ({meter.last_error})")  # fmt: skip
    result = DecodeAtContext(
        context_tokens=len(context), decode_tokens=settings.decode_tokens,
        tokens_per_s=Summary.of(rates), step_s=steps,
        energy_j_per_token=Summary.of(energy_per_token), power_w=Summary.of(power),
        power_source=source, window_s=windows, short_windows=short,
        zones_power_w={z: sum(d.get(z, 0.0) for d in zones) / len(zones) for z in zones[0]},
    )  # fmt: skip
    return result, warnings
