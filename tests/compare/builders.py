"""Hand-built profiles for the gate's tests. FIXTURES: samples are drawn from a seeded normal
distribution around round numbers so the statistics have noise to work on; never measurements."""

from __future__ import annotations

import numpy as np

from configspec.profiles.alignment import (
    AlignmentCell,
    AlignmentProfile,
    AlignmentSettings,
    PolicyStats,
)
from configspec.profiles.drafting import (
    DecodeAtContext,
    DeviceProfile,
    DraftCell,
    PowerInfo,
    Prefill,
    Settings,
)
from configspec.profiles.environment import Environment
from configspec.profiles.summary import Summary
from configspec.profiles.verification import VerificationProfile, VerifyPoint


def environment(
    device: str = "edge", backend_version: str = "1.0", threads: int = 2
) -> Environment:
    return Environment(
        device=device, hostname=device, cpu_model="fixture-cpu", os="fixture", machine="x86_64",
        python="3.11", threads=threads, backend="llama_cpp", backend_version=backend_version,
        configspec_version="0", date_utc="2025-01-01T00:00:00+00:00",
    )  # fmt: skip


def noisy(mean: float, cv: float, n: int, seed: int) -> Summary:
    """n samples around `mean` with coefficient of variation `cv` (seeded)."""
    rng = np.random.default_rng(seed)
    return Summary.of(list(mean * (1 + cv * rng.standard_normal(n))))


def draft_cell(tok_s: float, cv: float = 0.03, seed: int = 0, n: int = 5, quant: str = "Q4_K_M",
               sha: str = "aa", power_source: str = "estimated:fixture") -> DraftCell:  # fmt: skip
    rate = noisy(tok_s, cv, n, seed)
    decode = DecodeAtContext(
        context_tokens=16, decode_tokens=32, tokens_per_s=rate,
        step_s=[[1 / r] * 4 for r in rate.samples],
        energy_j_per_token=Summary.of([5.0 / r for r in rate.samples]),
        power_w=Summary.of([5.0] * n), power_source=power_source,
    )  # fmt: skip
    prefill = noisy(10 * tok_s, cv, n, seed + 1000)
    return DraftCell(
        draft="draft-0.5b", target="target-1.5b", quant=quant, file="/m/draft.gguf",
        file_sha256=sha, file_bytes=1, load_s=0.1, decode=[decode],
        prefill=Prefill(prompt_tokens=64, tokens_per_s=prefill,
                        samples_s=[64 / r for r in prefill.samples]),
    )  # fmt: skip


def drafting_profile(
    cells: list[DraftCell], device: str = "edge", threads: int = 2
) -> DeviceProfile:
    return DeviceProfile(
        environment=environment(device, threads=threads),
        settings=Settings(threads=threads, repetitions=5, warmup_tokens=8, decode_tokens=32,
                          contexts=[16], prefill_tokens=64),
        power=PowerInfo(source="estimated:fixture", sampling_period_s=0.1, idle_power_w=1.0,
                        idle_source="estimated:fixture"),
        cells=cells,
    )  # fmt: skip


def alignment_cell(acceptance: float = 0.8, k_max: int = 4, mode: str = "greedy",
                   temperature: float = 0.0, quant: str = "Q4_K_M") -> AlignmentCell:  # fmt: skip
    """Policy figures follow the i.i.d. form (1 - a^(K+1)) / (1 - a): round, checkable numbers."""
    a = acceptance
    fixed = []
    for k in range(1, k_max + 1):
        n = (1 - a ** (k + 1)) / (1 - a)
        fixed.append(PolicyStats(k_max=k, drafted_per_round=k, accepted_per_round=n - 1,
                                 tokens_per_round=n, rounds=100 / n))  # fmt: skip
    return AlignmentCell(
        draft="draft-0.5b", quant=quant, draft_sha256="aa", target="target-1.5b",
        target_quant="Q4_K_M", target_sha256="bb", mode=mode, temperature=temperature,
        n_prompts=3, n_positions=100, acceptance_rate=a, acceptance_by_position=[a] * k_max,
        fixed_k=fixed, iid_tokens_per_round=[p.tokens_per_round for p in fixed],
        threshold=[PolicyStats(k_max=k_max, tau=0.5, drafted_per_round=2.0,
                               accepted_per_round=1.5, tokens_per_round=2.5, rounds=40)],
    )  # fmt: skip


def alignment_profile(cells: list[AlignmentCell], backend_version: str = "1.0") -> AlignmentProfile:
    return AlignmentProfile(
        environment=environment("server", backend_version),
        settings=AlignmentSettings(prompts_file="configspec/data/prompts.jsonl", n_prompts=3,
                                   new_tokens=48, temperature=0.0, seed=0, k_max=4,
                                   tau_grid=[0.5]),
        cells=cells,
    )  # fmt: skip


def verification_profile(latency_s: float, cv: float = 0.03, seed: int = 0,
                         ks: tuple[int, ...] = (0, 1, 4)) -> VerificationProfile:  # fmt: skip
    points = [
        VerifyPoint(k=k, batch=1, context_tokens=128,
                    latency_s=noisy(latency_s * (1 + k / 2), cv, 5, seed + k))
        for k in ks
    ]  # fmt: skip
    return VerificationProfile(
        environment=environment("server"), target="target-1.5b", target_quant="Q4_K_M",
        target_sha256="bb", repetitions=5, points=points,
    )  # fmt: skip
