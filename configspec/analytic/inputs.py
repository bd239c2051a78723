"""Numbers the model reads from profiles, each with where it came from.

Drafting: the mean decode step time and power of a draft x quant cell, interpolated linearly in
context between the profiled contexts (clamped outside them: decode time grows slowly with
context, extrapolating a two-point line would invent a trend). Verification: the target's call
latency and energy, interpolated linearly in K (linearly extrapolated past the profiled K, with a
warning) and in context (clamped), for the scenario's batch size; per round, averaged over the
policy's distribution of drafts per round where the alignment profile recorded it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from configspec.analytic.formulas import full_acceptance_probability
from configspec.errors import ConfigspecError
from configspec.profiles.alignment import AlignmentCell, PolicyStats
from configspec.profiles.drafting import DraftCell
from configspec.profiles.verification import VerificationProfile


def _interp_clamped(x: float, xs: list[float], ys: list[float]) -> float:
    order = np.argsort(xs)
    return float(np.interp(x, np.asarray(xs, float)[order], np.asarray(ys, float)[order]))


@dataclass(frozen=True)
class DraftTiming:
    step_s: float  # mean time of one decode call
    power_w: float  # mean power while decoding
    power_source: str


def draft_timing(cell: DraftCell, context_tokens: int) -> DraftTiming:
    """Mean step time = all timed decode calls / their count (= 1 / pooled tokens per second)."""
    contexts = [d.context_tokens for d in cell.decode]
    steps = [float(np.mean([s for rep in d.step_s for s in rep])) for d in cell.decode]
    powers = [d.power_w.mean for d in cell.decode]
    sources = sorted({d.power_source for d in cell.decode})
    return DraftTiming(
        step_s=_interp_clamped(context_tokens, contexts, steps),
        power_w=_interp_clamped(context_tokens, contexts, powers),
        power_source="+".join(sources),
    )


def draft_batch_s(cell: DraftCell, tokens, context_tokens: int) -> np.ndarray | None:
    """Seconds for the draft to read `tokens` tokens in one call, the last row's logits only
    (llama.cpp's draft-simple re-reads the verified tokens so every round): piecewise linear in
    tokens through one decode step (1 token) and the profiled batches, continued linearly past
    the largest; linear in context between the profiled contexts, clamped outside them. None
    when the drafting profile has no batch timings (profiled before they existed)."""
    if not cell.batch:
        return None
    n = np.asarray(tokens, dtype=float)
    contexts = sorted({b.context_tokens for b in cell.batch})
    curves = []
    for c in contexts:
        points = sorted((b.tokens, b.latency_s.mean) for b in cell.batch if b.context_tokens == c)
        xs = np.array([1.0, *(t for t, _ in points)])
        ys = np.array([draft_timing(cell, c).step_s, *(s for _, s in points)])
        curves.append(_extrapolated_interp(n, xs, ys))
    if len(contexts) == 1:
        return curves[0]
    weights = [_interp_clamped(context_tokens, contexts, list(np.eye(len(contexts))[i]))
               for i in range(len(contexts))]  # fmt: skip
    return sum(w * curve for w, curve in zip(weights, curves, strict=True))


def extra_draft_steps(cell: AlignmentCell, stats: PolicyStats) -> float:
    """Expected draft steps beyond D per round (see formulas.drafting_time_s). Fixed K: P(all K
    accepted) from the traces' conditional acceptance by position. Threshold tau: the share of
    rounds that stopped on a token below tau (its step already paid), as the walk counted it;
    1 in profiles written before it was recorded (which overstates by the rounds that reach
    K_max or the end of the text)."""
    if stats.tau is None:
        return full_acceptance_probability(cell.acceptance_by_position, stats.k_max)
    return 1.0 if stats.stopped_early_per_round is None else stats.stopped_early_per_round


def per_round(
    at: Callable[[np.ndarray], np.ndarray], drafted: np.ndarray,
    shares: Sequence[Sequence[float] | None] | None = None,
) -> np.ndarray:  # fmt: skip
    """A verification figure per round, per row: `at` (t_v or E_v as a function of D) at the
    row's mean D, or, where the row's distribution of D is known (`shares[i]`: P(D = d)), the mean
    of at(D) over it. On a CPU t_v is not linear in D (llama.cpp picks its kernels by the number
    of tokens in a call), so a threshold policy, whose D varies from round to round, pays the
    mean of t_v(D) rather than t_v of the mean (docs/model.md)."""
    out = np.array(at(np.asarray(drafted, dtype=float)), dtype=float)
    for i, p in enumerate(shares or []):
        if p:
            out[i] = float(np.dot(p, at(np.arange(len(p), dtype=float))))
    return out


def reuse_probability(cell: AlignmentCell, stats: PolicyStats) -> float:
    """P(every draft accepted AND the draft's next-token guess equals the bonus) per round, for
    proactive drafting at fixed K: the walk's reuse rate recorded by align, else (profiles
    written before it was) the chain rule over the first K + 1 positions."""
    if stats.reuse_per_round is not None:
        return stats.reuse_per_round
    return full_acceptance_probability(cell.acceptance_by_position, stats.k_max + 1)


def _extrapolated_interp(x: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Piecewise linear through (xs, ys), continued linearly past both ends."""
    if len(xs) == 1:
        return np.full_like(x, ys[0], dtype=float)
    inside = np.interp(x, xs, ys)
    low_slope = (ys[1] - ys[0]) / (xs[1] - xs[0])
    high_slope = (ys[-1] - ys[-2]) / (xs[-1] - xs[-2])
    below = ys[0] + (x - xs[0]) * low_slope
    above = ys[-1] + (x - xs[-1]) * high_slope
    return np.where(x < xs[0], below, np.where(x > xs[-1], above, inside))


@dataclass
class VerifyCurve:
    """Latency (and energy) of one target call over K + 1 tokens per sequence, at one batch size."""

    batch: int
    contexts: list[int]
    ks: list[np.ndarray]  # per context, sorted
    latency_s: list[np.ndarray]
    energy_j: list[np.ndarray] | None  # None when any point lacks an energy reading
    energy_source: str | None
    k_range: tuple[int, int]

    def _at(self, k, values: list[np.ndarray], context_tokens: int) -> np.ndarray:
        k = np.asarray(k, dtype=float)
        per_context = np.stack(
            [_extrapolated_interp(k, ks, v) for ks, v in zip(self.ks, values, strict=True)]
        )
        if len(self.contexts) == 1:
            return per_context[0]
        # Linear in context between the profiled contexts (sorted ascending), clamped outside.
        cs = np.asarray(self.contexts, float)
        c = float(np.clip(context_tokens, cs[0], cs[-1]))
        hi = int(np.searchsorted(cs, c))
        if cs[hi] == c:
            return per_context[hi]
        w = (c - cs[hi - 1]) / (cs[hi] - cs[hi - 1])
        return (1 - w) * per_context[hi - 1] + w * per_context[hi]

    def latency(self, k, context_tokens: int) -> np.ndarray:
        return self._at(k, self.latency_s, context_tokens)

    def energy(self, k, context_tokens: int) -> np.ndarray | None:
        return None if self.energy_j is None else self._at(k, self.energy_j, context_tokens)


def verify_curve(profile: VerificationProfile, batch: int) -> VerifyCurve:
    points = [p for p in profile.points if p.batch == batch]
    if not points:
        have = sorted({p.batch for p in profile.points})
        raise ConfigspecError(
            f"the verification profile has no batch {batch} (profiled: {have or 'none'}); "
            "set server.batch in the scenario to one of these or re-run verify-latency"
        )
    contexts = sorted({p.context_tokens for p in points})
    ks, lat, energy = [], [], []
    has_energy = all(p.energy_j is not None for p in points)
    for c in contexts:
        at_c = sorted((p for p in points if p.context_tokens == c), key=lambda p: p.k)
        ks.append(np.array([p.k for p in at_c], float))
        lat.append(np.array([p.latency_s.mean for p in at_c], float))
        if has_energy:
            energy.append(np.array([p.energy_j.mean for p in at_c], float))
    sources = sorted({p.power_source for p in points if p.power_source})
    all_k = [p.k for p in points]
    return VerifyCurve(
        batch=batch, contexts=contexts, ks=ks, latency_s=lat,
        energy_j=energy if has_energy else None,
        energy_source="+".join(sources) if has_energy and sources else None,
        k_range=(min(all_k), max(all_k)),
    )  # fmt: skip
