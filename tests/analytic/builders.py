"""Hand-built profile objects for tests. These are FIXTURES with round numbers chosen so the
arithmetic can be done by hand — never measurements, never shown as such."""

from __future__ import annotations

from configspec.analytic.formulas import iid_tokens_per_round
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

TARGET = "tgt"


def environment(device: str = "edge-a") -> Environment:
    return Environment(
        device=device, hostname=device, cpu_model="fixture", os="fixture", machine="x86_64",
        python="3.11", threads=2, backend="fixture", backend_version="0",
        configspec_version="0", date_utc="2025-01-01T00:00:00+00:00",
    )  # fmt: skip


def _constant(value: float, n: int = 3) -> Summary:
    return Summary.of([value] * n)


def draft_cell(draft: str, quant: str, step_s: dict[int, float], power_w: float,
               source: str = "estimated:fixture", target: str = TARGET) -> DraftCell:  # fmt: skip
    decode = [
        DecodeAtContext(
            context_tokens=ctx,
            decode_tokens=4,
            tokens_per_s=_constant(1.0 / s),
            step_s=[[s] * 4, [s] * 4],
            energy_j_per_token=_constant(power_w * s),
            power_w=_constant(power_w),
            power_source=source,
        )  # fmt: skip
        for ctx, s in step_s.items()
    ]
    return DraftCell(
        draft=draft, target=target, quant=quant, file=f"/models/{draft}-{quant}.gguf",
        file_sha256="", file_bytes=1, load_s=0.1, decode=decode,
        prefill=Prefill(prompt_tokens=8, tokens_per_s=_constant(100.0), samples_s=[0.08]),
    )  # fmt: skip


def drafting_profile(cells: list[DraftCell], device: str = "edge-a", idle_w: float = 2.0,
                     idle_source: str = "estimated:fixture") -> DeviceProfile:  # fmt: skip
    return DeviceProfile(
        environment=environment(device),
        settings=Settings(
            threads=2,
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
             mode: str = "greedy", temperature: float = 0.0) -> AlignmentCell:  # fmt: skip
    """Policy stats from the i.i.d. closed form (the fixture's acceptance is exactly a at every
    position); threshold policies invented to draft fewer tokens at higher acceptance."""
    fixed = []
    for k in range(1, k_max + 1):
        n = float(iid_tokens_per_round(a, k))
        fixed.append(PolicyStats(k_max=k, drafted_per_round=k, accepted_per_round=n - 1,
                                 tokens_per_round=n, rounds=100))  # fmt: skip
    threshold = []
    for tau in taus:
        a_tau = a + (1 - a) * tau  # a stricter threshold keeps only likelier tokens
        drafted = k_max * (1 - tau)
        n = float(iid_tokens_per_round(a_tau, drafted))
        threshold.append(PolicyStats(k_max=k_max, tau=tau, drafted_per_round=drafted,
                                     accepted_per_round=n - 1, tokens_per_round=n, rounds=100))  # fmt: skip
    return AlignmentCell(
        draft=draft, quant=quant, draft_sha256="", target=TARGET, target_quant="Q4_K_M",
        target_sha256="", mode=mode, temperature=temperature, n_prompts=1, n_positions=100,
        acceptance_rate=a, acceptance_by_position=[a] * k_max, fixed_k=fixed,
        iid_tokens_per_round=[float(iid_tokens_per_round(a, k)) for k in range(1, k_max + 1)],
        threshold=threshold,
    )  # fmt: skip


def alignment_profile(cells: list[AlignmentCell]) -> AlignmentProfile:
    return AlignmentProfile(
        environment=environment("server"),
        settings=AlignmentSettings(
            prompts_file="fixture",
            n_prompts=1,
            new_tokens=100,
            temperature=0.0,
            seed=0,
            k_max=8,
            tau_grid=[],
        ),  # fmt: skip
        cells=cells,
    )


def verification_profile(base_s: float = 0.02, per_token_s: float = 0.01, k_max: int = 8,
                         contexts: tuple[int, ...] = (256,), power_w: float | None = 100.0,
                         batches: tuple[int, ...] = (1,), k_min: int = 0) -> VerificationProfile:  # fmt: skip
    """Latency = base + per_token * (K + 1) * batch (linear, like a CPU); energy = power x time."""
    points = []
    for batch in batches:
        for ctx in contexts:
            for k in range(k_min, k_max + 1):
                lat = base_s + per_token_s * (k + 1) * batch
                points.append(VerifyPoint(
                    k=k, batch=batch, context_tokens=ctx, latency_s=_constant(lat),
                    energy_j=None if power_w is None else _constant(power_w * lat),
                    power_source=None if power_w is None else "measured:fixture",
                ))  # fmt: skip
    return VerificationProfile(
        environment=environment("server"), target=TARGET, target_quant="Q4_K_M",
        target_sha256="", repetitions=3, points=points,
    )  # fmt: skip
