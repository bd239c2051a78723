"""Turn per-position traces into the figures of an AlignmentCell, for every policy at once.

Greedy traces are walked exactly (walk.greedy_walk / threshold_walk). Sampled traces give the
expected walk over their betas (walk.expected_walk: the ratio a decoder measures, total tokens /
total rounds), a Monte Carlo spread (walk.monte_carlo_rounds: 2.5-97.5% of one pass over the
prompt set) and docs/alignment.md's E[N_s] averaged over start positions. Every per-prompt figure is a sum,
so a cell's summary is updated one prompt at a time (the file is rewritten after each prompt).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from configspec.alignment.traces import PromptTrace
from configspec.alignment.walk import (
    WalkCounts,
    acceptance_by_position,
    expected_tokens_by_start,
    expected_walk,
    fixed_draft_lengths,
    monte_carlo_estimate,
    monte_carlo_rounds,
    rollout_draft_lengths,
    threshold_draft_lengths,
    topk_coverage,
    walk_with_lengths,
)
from configspec.analytic.formulas import iid_tokens_per_round
from configspec.profiles.alignment import PolicyStats
from configspec.profiles.policy import Policy

TOPK = (1, 2, 4, 8)
DEFAULT_TAU_GRID = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass
class PromptSummary:
    """A cell's additive figures for one prompt, per policy."""

    n: int
    counts: dict[Policy, WalkCounts]
    mc_rounds: dict[Policy, np.ndarray] = field(default_factory=dict)  # sampled: per pass
    start_sum: dict[Policy, float] = field(default_factory=dict)  # sampled: sum_s E[N_s]
    # greedy: thresholds on llama.cpp's confidence (traces.llama_cpp_confidence)
    llama_cpp: dict[Policy, WalkCounts] = field(default_factory=dict)


def policies(k_max: int, tau_grid: tuple[float, ...]) -> list[Policy]:
    fixed = [Policy.fixed(k) for k in range(1, k_max + 1)]
    return fixed + [Policy.threshold(k_max, tau) for tau in tau_grid]


def _lengths(trace: PromptTrace, policy: Policy) -> np.ndarray:
    if policy.tau is None:
        return fixed_draft_lengths(len(trace), policy.k_max)
    return threshold_lengths(trace, policy.k_max, policy.tau)


def threshold_lengths(trace: PromptTrace, k_max: int, tau: float, llama_cpp: bool = False):
    """D_s under a threshold on the softmax's confidence (configspec) or llama.cpp's p-min: past
    the draft's own wrong token from the rollouts where the trace has them (greedy), else on the
    teacher-forced confidences (sampled traces and older ones: an approximation)."""
    confidence = trace.llama_cpp_confidence if llama_cpp else trace.confidence
    past_miss = trace.llama_cpp_confidence_past_miss if llama_cpp else trace.confidence_past_miss
    if past_miss is None:
        return threshold_draft_lengths(confidence, k_max, tau)
    return rollout_draft_lengths(trace.match, confidence, past_miss, k_max, tau)


def summarize_prompt(
    trace: PromptTrace, k_max: int, tau_grid: tuple[float, ...], mc_passes: int, seed: int
) -> PromptSummary:
    """Walk one prompt's trace under every policy (exact for greedy, expected for sampled)."""
    pols = policies(k_max, tau_grid)
    lengths = [_lengths(trace, p) for p in pols]
    caps = fixed_draft_lengths(len(trace), k_max)  # the most a threshold round may draft
    summary = PromptSummary(n=len(trace), counts={})
    if trace.beta is None:
        for policy, d in zip(pols, lengths, strict=True):
            summary.counts[policy] = walk_with_lengths(
                trace.match, d, caps if policy.is_threshold else d
            )
        if trace.llama_cpp_confidence is not None:
            for tau in tau_grid:
                summary.llama_cpp[Policy.threshold(k_max, tau)] = walk_with_lengths(
                    trace.match, threshold_lengths(trace, k_max, tau, llama_cpp=True), caps
                )
        return summary
    rng = np.random.default_rng([seed, zlib.crc32(trace.prompt_id.encode())])
    rounds = monte_carlo_rounds(trace.beta, lengths, mc_passes, rng)
    for policy, d, r in zip(pols, lengths, rounds, strict=True):
        summary.counts[policy] = expected_walk(trace.beta, d, caps if policy.is_threshold else d)
        summary.mc_rounds[policy] = r
        if not policy.is_threshold:
            summary.start_sum[policy] = float(
                expected_tokens_by_start(trace.beta, policy.k_max).sum()
            )
    return summary


@dataclass
class CellFigures:
    """The summary fields of an AlignmentCell."""

    n_positions: int
    acceptance_rate: float
    acceptance_by_position: list[float]
    fixed_k: list[PolicyStats]
    iid_tokens_per_round: list[float]
    threshold: list[PolicyStats]
    topk_coverage: dict[int, float]
    llama_cpp_threshold: list[PolicyStats]


def _stats(
    policy: Policy, summaries: list[PromptSummary], sampled: bool, llama_cpp: bool = False
) -> PolicyStats:
    counts = sum(
        ((s.llama_cpp if llama_cpp else s.counts)[policy] for s in summaries), WalkCounts()
    )
    ci = start_mean = None
    if sampled:
        tokens = sum(s.n for s in summaries)
        rounds = np.sum([s.mc_rounds[policy] for s in summaries], axis=0)
        ci = monte_carlo_estimate(tokens, rounds).ci95
        if not policy.is_threshold:
            start_mean = sum(s.start_sum[policy] for s in summaries) / max(tokens, 1)
    return PolicyStats(
        k_max=policy.k_max, tau=policy.tau, drafted_per_round=counts.drafted_per_round,
        accepted_per_round=counts.accepted_per_round, tokens_per_round=counts.tokens_per_round,
        rounds=counts.rounds, tokens_per_round_ci95=ci, expected_tokens_per_start=start_mean,
        stopped_early_per_round=counts.stopped_early_per_round,
        reuse_per_round=None if sampled or policy.is_threshold else counts.reuse_rate,
        drafted_shares=None if sampled else counts.drafted_shares or None,
    )  # fmt: skip


def summarize_cell(
    traces: list[PromptTrace], summaries: list[PromptSummary], k_max: int,
    tau_grid: tuple[float, ...],
) -> CellFigures:  # fmt: skip
    sampled = traces[0].beta is not None
    values = [t.beta if sampled else t.match.astype(np.float64) for t in traces]
    a = float(np.concatenate(values).mean())
    ranks = np.concatenate([t.rank for t in traces])
    return CellFigures(
        n_positions=sum(len(t) for t in traces),
        acceptance_rate=a,
        acceptance_by_position=acceptance_by_position(values, k_max),
        fixed_k=[_stats(Policy.fixed(k), summaries, sampled) for k in range(1, k_max + 1)],
        iid_tokens_per_round=[float(iid_tokens_per_round(a, k)) for k in range(1, k_max + 1)],
        threshold=[_stats(Policy.threshold(k_max, tau), summaries, sampled) for tau in tau_grid],
        topk_coverage={k: topk_coverage(ranks, k) for k in TOPK},
        llama_cpp_threshold=[
            _stats(Policy.threshold(k_max, tau), summaries, sampled, llama_cpp=True)
            for tau in tau_grid
            if all(Policy.threshold(k_max, tau) in s.llama_cpp for s in summaries)
        ],
    )
