"""Hand-built profiles for tests. FIXTURES, never measurements, never shown as such (their CPU
is "fixture"): round numbers where the arithmetic is checked by hand, and seeded normal samples
around round numbers where the regression gate's statistics need noise to work on."""

from __future__ import annotations

import numpy as np

from configspec.analytic.formulas import iid_tokens_per_round
from configspec.profiles.alignment import (
    AlignmentCell,
    AlignmentProfile,
    AlignmentSettings,
    PolicyStats,
)
from configspec.profiles.drafting import (
    BatchPoint,
    DecodeAtContext,
    DeviceProfile,
    DraftCell,
    DraftingSettings,
    PowerInfo,
    Prefill,
)
from configspec.profiles.environment import Environment
from configspec.profiles.summary import Summary
from configspec.profiles.verification import VerificationProfile, VerifyPoint

TARGET = "tgt"


def environment(
    device: str = "edge-a", backend_version: str = "1.0", threads: int = 2
) -> Environment:
    return Environment(
        device=device, hostname=device, cpu_model="fixture", os="fixture", machine="x86_64",
        python="3.11", threads=threads, backend="fixture", backend_version=backend_version,
        configspec_version="0", date_utc="2025-01-01T00:00:00+00:00",
    )  # fmt: skip


def constant(value: float, n: int = 3) -> Summary:
    return Summary.of([value] * n)


def noisy(mean: float, cv: float, n: int, seed: int) -> Summary:
    """n samples around `mean` with coefficient of variation `cv` (seeded)."""
    rng = np.random.default_rng(seed)
    return Summary.of(list(mean * (1 + cv * rng.standard_normal(n))))


# ---- round numbers: the analytic model, the search, recommend and the report ------------------


BATCH_TOKENS = (2, 5, 9, 17)


def draft_cell(draft: str, quant: str, step_s: dict[int, float], power_w: float,
               source: str = "estimated:fixture", target: str = TARGET, sha: str = "",
               batch: bool = True) -> DraftCell:  # fmt: skip
    """A drafting cell decoding at `step_s[context]` seconds per token and `power_w` watts; a
    forward over n tokens costs (1 + 0.5 (n - 1)) steps (CPU-like), unless `batch` is False
    (a profile made before batches were timed)."""
    decode = [
        DecodeAtContext(
            context_tokens=ctx,
            decode_tokens=4,
            tokens_per_s=constant(1.0 / s),
            step_s=[[s] * 4, [s] * 4],
            energy_j_per_token=constant(power_w * s),
            power_w=constant(power_w),
            power_source=source,
        )  # fmt: skip
        for ctx, s in step_s.items()
    ]
    batches = [
        BatchPoint(context_tokens=ctx, tokens=n, latency_s=constant(s * (1 + 0.5 * (n - 1))))
        for ctx, s in step_s.items() for n in BATCH_TOKENS
    ] if batch else []  # fmt: skip
    return DraftCell(
        draft=draft, target=target, quant=quant, file=f"/models/{draft}-{quant}.gguf",
        file_sha256=sha, file_bytes=1, load_s=0.1, decode=decode, batch=batches,
        prefill=Prefill(prompt_tokens=8, tokens_per_s=constant(100.0), samples_s=[0.08]),
    )  # fmt: skip


def drafting_profile(cells: list[DraftCell], device: str = "edge-a", idle_w: float = 2.0,
                     idle_source: str = "estimated:fixture", threads: int = 2) -> DeviceProfile:  # fmt: skip
    return DeviceProfile(
        environment=environment(device, threads=threads),
        settings=DraftingSettings(
            threads=threads,
            repetitions=2,
            warmup_tokens=1,
            decode_tokens=4,
            contexts=sorted({d.context_tokens for c in cells for d in c.decode}),
            prefill_tokens=8,
        ),  # fmt: skip
        power=PowerInfo(
            source="estimated:fixture",
            sampling_period_s=0.1,
            idle_power_w=idle_w,
            idle_source=idle_source,
        ),  # fmt: skip
        cells=cells,
    )


def iid_cell(draft: str, quant: str, a: float, k_max: int = 8, taus: tuple[float, ...] = (),
             mode: str = "greedy", temperature: float = 0.0, target: str = TARGET,
             draft_sha: str = "", target_sha: str = "") -> AlignmentCell:  # fmt: skip
    """Policy stats from the i.i.d. closed form (the fixture's acceptance is exactly a at every
    position); threshold policies invented to draft fewer tokens at higher acceptance, and
    llama.cpp's (its confidence reads higher, so it drafts more: as at tau - 0.1)."""
    fixed = []
    for k in range(1, k_max + 1):
        n = float(iid_tokens_per_round(a, k))
        fixed.append(PolicyStats(k_max=k, drafted_per_round=k, accepted_per_round=n - 1,
                                 tokens_per_round=n, rounds=100 / n,
                                 stopped_early_per_round=0.0))  # fmt: skip

    def threshold_stats(tau: float, as_tau: float) -> PolicyStats:
        a_tau = a + (1 - a) * as_tau  # a stricter threshold keeps only likelier tokens
        drafted = k_max * (1 - as_tau)
        n = float(iid_tokens_per_round(a_tau, drafted))
        return PolicyStats(k_max=k_max, tau=tau, drafted_per_round=drafted,
                           accepted_per_round=n - 1, tokens_per_round=n, rounds=100 / n,
                           stopped_early_per_round=as_tau)  # fmt: skip

    threshold = [threshold_stats(tau, tau) for tau in taus]
    llama_cpp = [threshold_stats(tau, max(tau - 0.1, 0.0)) for tau in taus]
    return AlignmentCell(
        draft=draft, quant=quant, draft_sha256=draft_sha, target=target, target_quant="Q4_K_M",
        target_sha256=target_sha, mode=mode, temperature=temperature, n_prompts=1,
        n_positions=100, acceptance_rate=a, acceptance_by_position=[a] * k_max, fixed_k=fixed,
        iid_tokens_per_round=[float(iid_tokens_per_round(a, k)) for k in range(1, k_max + 1)],
        threshold=threshold, llama_cpp_threshold=llama_cpp if mode == "greedy" else [],
    )  # fmt: skip


def alignment_profile(cells: list[AlignmentCell], backend_version: str = "1.0") -> AlignmentProfile:
    k_max = max((len(c.fixed_k) for c in cells), default=8)
    taus = sorted({p.tau for c in cells for p in c.threshold if p.tau is not None})
    return AlignmentProfile(
        environment=environment("server", backend_version),
        settings=AlignmentSettings(
            prompts_file="fixture",
            n_prompts=1,
            new_tokens=100,
            temperature=0.0,
            seed=0,
            k_max=k_max,
            tau_grid=taus,
        ),  # fmt: skip
        cells=cells,
    )


def verification_profile(base_s: float = 0.02, per_token_s: float = 0.01, k_max: int = 8,
                         contexts: tuple[int, ...] = (256,), power_w: float | None = 100.0,
                         batches: tuple[int, ...] = (1,), k_min: int = 0,
                         target_sha: str = "", per_cell_s: float = 0.0) -> VerificationProfile:  # fmt: skip
    """Latency = base + per_token * (K + 1) * batch (linear, like a CPU) + per_cell * context
    (attention reading the cache); energy = power x time."""
    points = []
    for batch in batches:
        for ctx in contexts:
            for k in range(k_min, k_max + 1):
                lat = base_s + per_token_s * (k + 1) * batch + per_cell_s * ctx
                points.append(VerifyPoint(
                    k=k, batch=batch, context_tokens=ctx, latency_s=constant(lat),
                    energy_j=None if power_w is None else constant(power_w * lat),
                    power_source=None if power_w is None else "measured:fixture",
                ))  # fmt: skip
    return VerificationProfile(
        environment=environment("server"), target=TARGET, target_quant="Q4_K_M",
        target_sha256=target_sha, repetitions=3, points=points,
    )  # fmt: skip


# ---- noisy samples: the regression gate --------------------------------------------------------


def noisy_draft_cell(tok_s: float, cv: float = 0.03, seed: int = 0, n: int = 5,
                     quant: str = "Q4_K_M", sha: str = "aa",
                     power_source: str = "estimated:fixture") -> DraftCell:  # fmt: skip
    """One cell whose repetitions scatter around `tok_s` (decode) and 10 x `tok_s` (prefill)."""
    rate = noisy(tok_s, cv, n, seed)
    decode = DecodeAtContext(
        context_tokens=16, decode_tokens=32, tokens_per_s=rate,
        step_s=[[1 / r] * 4 for r in rate.samples],
        energy_j_per_token=Summary.of([5.0 / r for r in rate.samples]),
        power_w=Summary.of([5.0] * n), power_source=power_source,
    )  # fmt: skip
    prefill = noisy(10 * tok_s, cv, n, seed + 1000)
    return DraftCell(
        draft="d", target=TARGET, quant=quant, file="/m/draft.gguf", file_sha256=sha,
        file_bytes=1, load_s=0.1, decode=[decode],
        prefill=Prefill(prompt_tokens=64, tokens_per_s=prefill,
                        samples_s=[64 / r for r in prefill.samples]),
    )  # fmt: skip


def gate_alignment_cell(acceptance: float = 0.8, k_max: int = 4, mode: str = "greedy",
                        temperature: float = 0.0, quant: str = "Q4_K_M") -> AlignmentCell:  # fmt: skip
    """An aligned cell with file hashes, as the gate matches cells by them."""
    return iid_cell("d", quant, acceptance, k_max, (0.5,), mode, temperature, draft_sha="aa",
                    target_sha="bb")  # fmt: skip


def noisy_verification_profile(latency_s: float, cv: float = 0.03, seed: int = 0,
                               ks: tuple[int, ...] = (0, 1, 4)) -> VerificationProfile:  # fmt: skip
    points = [
        VerifyPoint(k=k, batch=1, context_tokens=128,
                    latency_s=noisy(latency_s * (1 + k / 2), cv, 5, seed + k))
        for k in ks
    ]  # fmt: skip
    return VerificationProfile(
        environment=environment("server"), target=TARGET, target_quant="Q4_K_M",
        target_sha256="bb", repetitions=5, points=points,
    )  # fmt: skip
