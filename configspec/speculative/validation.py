"""Check the real decoder against what the teacher-forced traces predict (the issue's "Done when").

Greedy: on a prompt whose target-only greedy continuation is `reference`, with `matches` from the
draft's teacher-forced (batched) pass, the decoder must emit `reference` token for token in exactly
the rounds alignment.walk.greedy_walk predicts. Where it does not, the cause is numerical: logits
of a model differ slightly between a batched call and single-token calls (different kernels), and
an argmax can flip. `compare_greedy` counts those flips on both sides:
- draft: the token the decoder's draft proposed (single-token decode) vs the trace's batched argmax
  at the same position, wherever the draft's context equals the reference;
- target: the argmax of each verification row (K + 1 tokens in one call) vs the single-token
  reference token, wherever the row's context equals the reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from configspec.alignment.walk import greedy_walk
from configspec.speculative.decoder import SpecResult


@dataclass
class GreedyComparison:
    k: int
    decoder_rounds: int
    walk_rounds: int
    decoder_tokens: int
    walk_tokens: int
    output_equal: bool  # decoder tokens == target-only greedy tokens
    first_divergence: int | None  # continuation index of the first differing token
    draft_compared: int = 0
    draft_flips: list[int] = field(default_factory=list)  # continuation positions
    target_compared: int = 0
    target_flips: list[int] = field(default_factory=list)

    @property
    def rounds_equal(self) -> bool:
        return self.decoder_rounds == self.walk_rounds and self.decoder_tokens == self.walk_tokens

    @property
    def exact(self) -> bool:
        """The decoder did exactly what the trace predicts and wrote the target's greedy output."""
        return self.rounds_equal and self.output_equal

    @property
    def explained(self) -> bool:
        """Any difference is due to an argmax flip between batched and single-token logits: the
        output diverges exactly where a verification row flipped, or (same output) the rounds
        differ where a draft proposal flipped."""
        if self.exact:
            return True
        if not self.output_equal:
            return self.first_divergence in self.target_flips
        return bool(self.draft_flips)


def compare_greedy(
    result: SpecResult, reference: list[int], trace_draft_argmax: np.ndarray
) -> GreedyComparison:
    """Compare one greedy decoder run with the trace of the same prompt (see module docstring)."""
    reference = [int(t) for t in reference]
    matches = np.asarray(trace_draft_argmax) == np.asarray(reference)
    walk = greedy_walk(matches, result.config.k)
    out = [int(t) for t in result.tokens]
    diverge = next(
        (i for i, (a, b) in enumerate(zip(out, reference, strict=False)) if a != b), None
    )
    if diverge is None and len(out) != len(reference):
        diverge = min(len(out), len(reference))
    comparison = GreedyComparison(
        k=result.config.k, decoder_rounds=len(result.rounds), walk_rounds=int(walk.rounds),
        decoder_tokens=len(out), walk_tokens=int(walk.tokens), output_equal=diverge is None,
        first_divergence=diverge,
    )  # fmt: skip
    # positions up to and including the first divergence still have the reference as context
    limit = len(reference) if diverge is None else min(diverge + 1, len(reference))
    start = 0  # continuation index where the round starts
    for r in result.rounds:
        for i, token in enumerate(r.drafted):
            pos = start + i
            # the draft's context for drafted[i] is committed + drafted[:i]: the reference
            # only while drafted[:i] matches it
            if pos >= limit or r.drafted[:i] != reference[start:pos]:
                break
            comparison.draft_compared += 1
            if token != int(trace_draft_argmax[pos]):
                comparison.draft_flips.append(pos)
        for i, best in enumerate(r.target_argmax):
            pos = start + i
            if pos >= limit or r.drafted[:i] != reference[start:pos]:
                break
            comparison.target_compared += 1
            if best != reference[pos]:
                comparison.target_flips.append(pos)
        start += len(r.emitted)
        if start >= limit:
            break
    return comparison
