"""Turn per-position traces into the figures of an AlignmentCell, for every policy at once.

Greedy traces are walked exactly (walk.greedy_walk / threshold_walk). Sampled traces give the
expected walk over their betas (walk.expected_walk: the ratio a decoder measures, total tokens /
total rounds), a Monte Carlo spread (walk.monte_carlo_rounds: 2.5-97.5% of one pass over the
prompt set) and MODEL.md's E[N_s] averaged over start positions. Every per-prompt figure is a sum,
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
    iid_tokens_per_round,
    monte_carlo_estimate,
    monte_carlo_rounds,
    threshold_draft_lengths,
    topk_coverage,
    walk_with_lengths,
)
from configspec.profiles.alignment import PolicyStats

TOPK = (1, 2, 4, 8)
DEFAULT_TAU_GRID = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
Policy = tuple[int, float | None]  # (K or K_max, tau or None)


@dataclass
class PromptSummary:
    """A cell's additive figures for one prompt, per policy."""

    n: int
    counts: dict[Policy, WalkCounts]
    mc_rounds: dict[Policy, np.ndarray] = field(default_factory=dict)  # sampled: per pass
    start_sum: dict[Policy, float] = field(default_factory=dict)  # sampled: sum_s E[N_s]


def policies(k_max: int, tau_grid: tuple[float, ...]) -> list[Policy]:
    return [(k, None) for k in range(1, k_max + 1)] + [(k_max, tau) for tau in tau_grid]


def _lengths(trace: PromptTrace, policy: Policy) -> np.ndarray:
    k, tau = policy
    if tau is None:
        return fixed_draft_lengths(len(trace), k)
    return threshold_draft_lengths(trace.confidence, k, tau)


def summarize_prompt(
    trace: PromptTrace, k_max: int, tau_grid: tuple[float, ...], mc_passes: int, seed: int
) -> PromptSummary:
    """Walk one prompt's trace under every policy (exact for greedy, expected for sampled)."""
    pols = policies(k_max, tau_grid)
    lengths = [_lengths(trace, p) for p in pols]
    summary = PromptSummary(n=len(trace), counts={})
    if trace.beta is None:
        for policy, d in zip(pols, lengths, strict=True):
            summary.counts[policy] = walk_with_lengths(trace.match, d)
        return summary
    rng = np.random.default_rng([seed, zlib.crc32(trace.prompt_id.encode())])
    rounds = monte_carlo_rounds(trace.beta, lengths, mc_passes, rng)
    for policy, d, r in zip(pols, lengths, rounds, strict=True):
        summary.counts[policy] = expected_walk(trace.beta, d)
        summary.mc_rounds[policy] = r
        if policy[1] is None:
            summary.start_sum[policy] = float(expected_tokens_by_start(trace.beta, policy[0]).sum())
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


def _stats(policy: Policy, summaries: list[PromptSummary], sampled: bool) -> PolicyStats:
    counts = sum((s.counts[policy] for s in summaries), WalkCounts())
    ci = start_mean = None
    if sampled:
        tokens = sum(s.n for s in summaries)
        rounds = np.sum([s.mc_rounds[policy] for s in summaries], axis=0)
        ci = monte_carlo_estimate(tokens, rounds).ci95
        if policy[1] is None:
            start_mean = sum(s.start_sum[policy] for s in summaries) / max(tokens, 1)
    return PolicyStats(
        k_max=policy[0], tau=policy[1], drafted_per_round=counts.drafted_per_round,
        accepted_per_round=counts.accepted_per_round, tokens_per_round=counts.tokens_per_round,
        rounds=counts.rounds, tokens_per_round_ci95=ci, expected_tokens_per_start=start_mean,
        reuse_per_round=None if sampled or policy[1] is not None else counts.reuse_rate,
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
        fixed_k=[_stats((k, None), summaries, sampled) for k in range(1, k_max + 1)],
        iid_tokens_per_round=[iid_tokens_per_round(a, k) for k in range(1, k_max + 1)],
        threshold=[_stats((k_max, tau), summaries, sampled) for tau in tau_grid],
        topk_coverage={k: topk_coverage(ranks, k) for k in TOPK},
    )
