"""Drafting profile: decode and prefill throughput, and power, per draft x quantization.

The loop follows llama-bench: a warm-up, then N repetitions with the decoded tokens cleared from the
KV cache between them, timing only the forward calls (greedy argmax happens outside the timed region).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

import numpy as np

from configspec.profiles.drafting import DecodeAtContext, Prefill
from configspec.profiling.stats import Summary
from configspec.runners.base import Runner
from device_profilers.base import PowerMeter


@dataclass(frozen=True)
class DecodeSettings:
    repetitions: int = 5
    warmup_tokens: int = 8
    decode_tokens: int = 64
    contexts: tuple[int, ...] = (16, 512)
    prefill_tokens: int = 256


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
    runner: Runner, context: list[int], settings: DecodeSettings, meter: PowerMeter,
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
    steps, rates, energy_per_token, power = [], [], [], []
    source = meter.source
    for _ in range(settings.repetitions):
        window = meter.start_window()
        step_s = timed_decode(runner, first, settings.decode_tokens)
        reading = meter.end_window(window)
        runner.rollback(len(prompt))
        if 0 < reading.duration_s < meter.sampling_period_s:
            warnings.append(
                f"decode window {reading.duration_s:.3f}s is shorter than the meter's update "
                f"period {meter.sampling_period_s:.3f}s: raise --tokens for a reliable energy figure"
            )
        steps.append(step_s)
        rates.append(len(step_s) / sum(step_s))
        energy_per_token.append(reading.energy_j / len(step_s))
        power.append(reading.mean_power_w)
        source = reading.source
        if on_repetition:
            on_repetition()
    runner.reset()
    result = DecodeAtContext(
        context_tokens=len(context), decode_tokens=settings.decode_tokens,
        tokens_per_s=Summary.of(rates), step_s=steps,
        energy_j_per_token=Summary.of(energy_per_token), power_w=Summary.of(power),
        power_source=source,
    )  # fmt: skip
    return result, warnings
