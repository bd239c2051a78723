"""compare_greedy: the decoder against the trace walk, flips counted where logits disagree."""

from __future__ import annotations

import numpy as np

from configspec.speculative import DecodeConfig, SpeculativeDecoder, target_only
from configspec.speculative.validation import compare_greedy
from tests.fakes import FakeRunner
from tests.speculative.test_decoder import PROMPT, V, pair


def _trace_argmax(draft, reference):
    full = PROMPT + reference
    draft.reset()
    rows = draft.forward(full[:-1], all_logits=True)[len(PROMPT) - 1 :]
    return np.argmax(rows, axis=1)


def test_consistent_runners_match_the_walk_exactly():
    draft, target = pair()
    reference = target_only(target, PROMPT, 64)
    argmax = _trace_argmax(draft, reference)
    for k in (1, 2, 4, 8):
        result = SpeculativeDecoder(draft, target).generate(
            PROMPT, DecodeConfig(k=k, max_new_tokens=64)
        )
        c = compare_greedy(result, reference, argmax)
        assert c.output_equal and c.first_divergence is None
        assert c.rounds_equal and c.decoder_tokens == c.walk_tokens == 64
        assert c.draft_flips == [] and c.target_flips == []
        assert c.draft_compared > 0 and c.target_compared >= c.decoder_rounds


def test_a_trace_that_disagrees_is_reported_with_its_position():
    draft, target = pair()
    reference = target_only(target, PROMPT, 64)
    argmax = _trace_argmax(draft, reference)
    result = SpeculativeDecoder(draft, target).generate(
        PROMPT, DecodeConfig(k=4, max_new_tokens=64)
    )
    # pretend the batched draft pass flipped its argmax at a position the decoder drafted
    first_round_pos = 0
    tampered = argmax.copy()
    tampered[first_round_pos] = (tampered[first_round_pos] + 1) % V
    c = compare_greedy(result, reference, tampered)
    assert c.draft_flips == [first_round_pos]
    assert c.output_equal  # the decoder itself is still right


def test_a_target_whose_batched_calls_flip_is_caught():
    """A target whose multi-token calls answer differently from single-token calls."""
    draft, target = pair()
    reference = target_only(target, PROMPT, 40)
    argmax = _trace_argmax(draft, reference)
    fn = target.next_logits

    class Skewed(FakeRunner):
        def forward(self, tokens, all_logits=False):
            out = super().forward(tokens, all_logits)
            if len(tokens) > 1 and self.n_past > len(PROMPT) + 10:  # batched rows, later on
                out = out.copy()
                out[..., 0] += 100.0
            return out

    skewed = Skewed(fn, V)
    result = SpeculativeDecoder(draft, skewed).generate(
        PROMPT, DecodeConfig(k=4, max_new_tokens=40)
    )
    c = compare_greedy(result, reference, argmax)
    assert not c.output_equal
    assert c.target_flips and c.target_flips[0] == c.first_divergence


def test_explained_classification():
    from configspec.speculative.validation import GreedyComparison

    base = dict(k=2, decoder_rounds=5, walk_rounds=5, decoder_tokens=9, walk_tokens=9)
    assert GreedyComparison(**base, output_equal=True, first_divergence=None).exact
    flipped = GreedyComparison(**base, output_equal=False, first_divergence=4, target_flips=[4])
    assert flipped.explained and not flipped.exact
    odd = GreedyComparison(**base, output_equal=False, first_divergence=4, target_flips=[2])
    assert not odd.explained
    moved = dict(base, walk_rounds=6)
    assert GreedyComparison(
        **moved, output_equal=True, first_divergence=None, draft_flips=[3]
    ).explained
    assert not GreedyComparison(**moved, output_equal=True, first_divergence=None).explained
