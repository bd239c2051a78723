"""What an emulated device does in a session, from its traces and its drafting profile (pure).

A session replays one prompt of the alignment traces: the target's greedy continuation
(`tokens`), whether the draft's teacher-forced argmax matched it at each position (`match`)
and the draft's confidence there (`confidence`). A round starting at continuation position s
drafts D tokens (fixed K: min(K, n - s - 1); threshold: the walk's rule, configspec/alignment/
walk.py) and sends what the draft would propose: the target's tokens while the draft matched,
then at the first mismatch a token that differs from the target's (the trace keeps only that the
draft's argmax differed), then anything (the server rejects it anyway). The trace predicts the
verdict: accepted = the run of matches from s (at most D) and the target's token after it.

Drafting time is sampled from the drafting profile's raw step times (every timed decode call,
at the profiled context nearest the session's position), one sample per draft forward call:
D calls for fixed K (the two-token call after a full acceptance costs about one step on a CPU,
docs/model.md), D + 1 for a threshold round that stopped on a token below tau (that call was
paid), D at the end of the trace.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from configspec.alignment.walk import fixed_draft_lengths, threshold_draft_lengths
from configspec.profiles.policy import Policy


@dataclass(frozen=True)
class PromptWork:
    """One prompt of the traces: the prompt's ids and the per-position trace."""

    id: str
    prompt_ids: list[int]
    tokens: np.ndarray  # the target's continuation (int)
    match: np.ndarray  # the draft's argmax == tokens (bool)
    confidence: np.ndarray  # the draft's confidence (float)

    def __len__(self) -> int:
        return len(self.tokens)


@dataclass(frozen=True)
class PlannedRound:
    start: int  # continuation position of the round's first draft
    drafted: list[int]  # the D token ids to send
    calls: int  # draft forward calls the round costs
    accepted: int  # what the trace predicts the server accepts
    token: int  # and the target's token after them (correction or bonus)

    @property
    def emitted(self) -> int:
        return self.accepted + 1


def draft_lengths(work: PromptWork, policy: Policy) -> np.ndarray:
    if policy.tau is None:
        return fixed_draft_lengths(len(work), policy.k_max)
    return threshold_draft_lengths(work.confidence, policy.k_max, policy.tau)


def plan_rounds(work: PromptWork, policy: Policy, n_vocab: int) -> list[PlannedRound]:
    """Every round of a session that follows the trace to its end."""
    tokens = np.asarray(work.tokens, dtype=np.int64)
    match = np.asarray(work.match, dtype=bool)
    lengths = draft_lengths(work, policy)
    n = len(tokens)
    rounds, s = [], 0
    while s < n:
        d = int(lengths[s])
        a = 0
        while a < d and match[s + a]:
            a += 1
        drafted = [int(t) for t in tokens[s : s + d]]
        if a < d:  # the draft proposed something else at its first mismatch
            drafted[a] = int((tokens[s + a] + 1) % n_vocab)
        stopped_by_tau = policy.is_threshold and d < policy.k_max and s + d < n - 1
        rounds.append(PlannedRound(s, drafted, d + int(stopped_by_tau), a, int(tokens[s + a])))
        s += a + 1
    return rounds


@dataclass(frozen=True)
class StepSamples:
    """Raw draft step times of one draft x quant cell, per profiled context (seconds)."""

    contexts: tuple[int, ...]
    samples: tuple[np.ndarray, ...]

    @classmethod
    def of(cls, decode_points) -> StepSamples:
        """From a drafting cell's `decode` list (DecodeAtContext: every timed call's step_s)."""
        points = sorted(decode_points, key=lambda d: d.context_tokens)
        return cls(
            tuple(d.context_tokens for d in points),
            tuple(np.asarray([s for rep in d.step_s for s in rep], float) for d in points),
        )

    def at(self, context_tokens: float) -> np.ndarray:
        """The samples of the profiled context nearest `context_tokens`."""
        i = int(np.argmin([abs(c - context_tokens) for c in self.contexts]))
        return self.samples[i]

    def mean_s(self, context_tokens: float) -> float:
        return float(self.at(context_tokens).mean())

    def draw_s(self, calls: int, context_tokens: float, rng: np.random.Generator) -> float:
        """Drafting time of `calls` forward calls: a sum of raw samples drawn with replacement."""
        if calls <= 0:
            return 0.0
        return float(rng.choice(self.at(context_tokens), size=calls).sum())
