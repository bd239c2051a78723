"""Golden values for the trace walks, worked out by hand in the comments (configspec/alignment/walk.py)."""

from __future__ import annotations

import numpy as np
import pytest

from configspec.alignment.walk import (
    WalkCounts,
    acceptance_by_position,
    expected_tokens_by_start,
    expected_tokens_per_round,
    expected_walk,
    fixed_draft_lengths,
    greedy_walk,
    monte_carlo_tokens_per_round,
    threshold_draft_lengths,
    threshold_walk,
    topk_coverage,
    total,
)
from configspec.analytic.formulas import iid_tokens_per_round


def counts(w: WalkCounts) -> tuple:
    return (w.rounds, w.drafted, w.accepted, w.tokens)


# ---- greedy ------------------------------------------------------------------------------------


def test_greedy_walk_mismatch_in_first_round():
    # n=5, K=2. s=0: D=2, run of ones 2 -> A=2, emit 3, next s=3.
    # s=3: D=min(2, 5-3-1)=1, A=1, emit 2, next s=5. -> 2 rounds, 3 drafted, 3 accepted, 5 tokens.
    assert counts(greedy_walk(np.array([1, 1, 0, 1, 1], bool), 2)) == (2, 3, 3, 5)


def test_greedy_walk_all_matches_is_cut_at_the_end():
    # n=7, K=3. s=0: D=3, A=3, emit 4 -> s=4. s=4: D=min(3, 2)=2, A=2, emit 3 -> s=7.
    assert counts(greedy_walk(np.ones(7, bool), 3)) == (2, 5, 5, 7)


def test_greedy_walk_no_matches():
    # n=4, K=4: D_s = 3, 2, 1, 0; every round rejects at once and emits the correction token.
    assert counts(greedy_walk(np.zeros(4, bool), 4)) == (4, 6, 0, 4)


def test_greedy_walk_k1():
    # n=6, K=1, matches 0 1 1 0 1 0: s=0 A=0 -> s=1 A=1 -> s=3 A=0 -> s=4 A=1 -> s=6.
    w = greedy_walk(np.array([0, 1, 1, 0, 1, 0], bool), 1)
    assert counts(w) == (4, 4, 2, 6)
    assert w.tokens_per_round == pytest.approx(1.5)


def test_greedy_walk_k0_is_target_alone():
    assert counts(greedy_walk(np.ones(5, bool), 0)) == (5, 0, 0, 5)


def test_walk_counts_add_across_prompts():
    a = greedy_walk(np.array([1, 1, 0, 1, 1], bool), 2)  # (2, 3, 3, 5)
    b = greedy_walk(np.zeros(4, bool), 4)  # (4, 6, 0, 4)
    assert counts(total([a, b])) == (6, 9, 3, 9)
    assert total([a, b]).tokens_per_round == pytest.approx(9 / 6)


def test_rounds_are_counted_by_their_drafts():
    # greedy_walk_no_matches: D = 3, 2, 1, 0 once each; mismatch_in_first_round: D = 2, 1
    a = greedy_walk(np.zeros(4, bool), 4)
    assert a.by_drafted == (1, 1, 1, 1)
    b = greedy_walk(np.array([1, 1, 0, 1, 1], bool), 2)
    assert b.by_drafted == (0, 1, 1)
    both = total([a, b])
    assert both.by_drafted == (1, 2, 2, 1)
    assert both.drafted_shares == pytest.approx([1 / 6, 2 / 6, 2 / 6, 1 / 6])
    assert sum(d * n for d, n in enumerate(both.by_drafted)) == both.drafted
    # the threshold golden below: D = 2, 4, 3
    assert threshold_walk(MATCHES, CONF, 4, 0.5).by_drafted == (0, 0, 1, 1, 1)
    assert expected_walk(HALF, fixed_draft_lengths(3, 2)).by_drafted == ()  # not counted
    assert expected_walk(HALF, fixed_draft_lengths(3, 2)).drafted_shares == []


def test_reuse_counts_full_rounds_whose_bonus_the_draft_guessed():
    # n=10, K=2, matches 1 1 1 0 1 1 0 1 1 1. s=0: D=2, A=2, the match at s+2=2 is 1 -> reuse;
    # s=3: A=0. s=4: A=2, the match at 6 is 0 -> full, no reuse. s=7: D=min(2, 10-7-1)=2, A=2,
    # the match at 9 is 1 -> reuse. 4 rounds, 3 full, 2 reused.
    w = greedy_walk(np.array([1, 1, 1, 0, 1, 1, 0, 1, 1, 1], bool), 2)
    assert counts(w) == (4, 8, 6, 10)
    assert (w.full, w.reuse) == (3, 2)
    assert w.reuse_rate == pytest.approx(0.5)
    assert total([w, w]).reuse == 4
    # a round that drafts nothing (K = 0: the target alone) has nothing to reuse
    assert greedy_walk(np.ones(5, bool), 0).reuse == 0


def test_fixed_draft_lengths_cut():
    assert fixed_draft_lengths(5, 3).tolist() == [3, 3, 2, 1, 0]


# ---- threshold ---------------------------------------------------------------------------------

MATCHES = np.array([1, 1, 1, 0, 1, 1, 1, 1], bool)
CONF = np.array([0.9, 0.8, 0.3, 0.9, 0.95, 0.6, 0.9, 0.9])


def test_threshold_lengths():
    # conf >= 0.5 -> 1 1 0 1 1 1 1 1; runs from each s: 2 1 0 5 4 3 2 1; end cut n-1-s: 7..0;
    # D_s = min(run, k_max=4, cut) = 2 1 0 4 3 2 1 0
    assert threshold_draft_lengths(CONF, 4, 0.5).tolist() == [2, 1, 0, 4, 3, 2, 1, 0]


def test_threshold_walk_golden():
    # s=0: D=2, matches run 3 -> A=2, emit 3 -> s=3. s=3: D=4, match 0 -> A=0, emit 1 -> s=4.
    # s=4: D=3, A=3, emit 4 -> s=8. -> 3 rounds, 9 drafted, 5 accepted, 8 tokens.
    assert counts(threshold_walk(MATCHES, CONF, 4, 0.5)) == (3, 9, 5, 8)
    # only the round at s=0 stopped on a low confidence (D=2 < K max 4); s=4 drafted all 3 the
    # end of the text allows
    assert threshold_walk(MATCHES, CONF, 4, 0.5).stopped_early == 1


def test_threshold_zero_equals_fixed_k():
    # tau=0 never stops: s=0 D=4 A=3 -> s=4 D=3 A=3 -> s=8: (2, 7, 6, 8)
    assert counts(threshold_walk(MATCHES, CONF, 4, 0.0)) == (2, 7, 6, 8)
    assert counts(threshold_walk(MATCHES, CONF, 4, 0.0)) == counts(greedy_walk(MATCHES, 4))


def test_threshold_above_every_confidence_drafts_nothing():
    assert counts(threshold_walk(MATCHES, CONF, 4, 0.99)) == (8, 0, 0, 8)
    assert threshold_walk(MATCHES, CONF, 4, 0.99).stopped_early == 7  # the last could draft none


# ---- sampling ----------------------------------------------------------------------------------

HALF = np.array([0.5, 0.5, 0.5])


def test_expected_tokens_by_start():
    # K=2, D = 2, 1, 0: E_0 = 1 + .5 + .25 = 1.75, E_1 = 1 + .5 = 1.5, E_2 = 1
    assert expected_tokens_by_start(HALF, 2).tolist() == pytest.approx([1.75, 1.5, 1.0])
    assert expected_tokens_per_round(HALF, 2) == pytest.approx(4.25 / 3)


def test_expected_walk_golden():
    # s=2: R=1. s=1: P(A=0)=.5 -> s=2, P(A=1)=.5 -> end: R=1.5, drafted 1, accepted .5.
    # s=0: P(A=0)=.5, P(A=1)=.25, P(A=2)=.25 -> R = 1 + .5*1.5 + .25*1 = 2,
    # drafted = 2 + .5*1 = 2.5, accepted = (.25*1 + .25*2) + .5*.5 = 1.
    w = expected_walk(HALF, fixed_draft_lengths(3, 2))
    assert counts(w) == pytest.approx((2.0, 2.5, 1.0, 3.0))


def test_expected_walk_of_0_1_betas_equals_greedy_walk():
    rng = np.random.default_rng(1)
    for _ in range(20):
        m = rng.random(30) < 0.7
        for k in (1, 3, 8):
            exact = greedy_walk(m, k)
            expected = expected_walk(m.astype(float), fixed_draft_lengths(30, k))
            assert counts(expected) == pytest.approx(counts(exact))


def test_constant_beta_matches_iid_closed_form_away_from_the_end():
    by_start = expected_tokens_by_start(np.full(200, 0.7), 4)
    assert by_start[:195] == pytest.approx(float(iid_tokens_per_round(0.7, 4)))


def test_monte_carlo_golden():
    # Rounds for HALF, K=2: 3 w.p. .25, 2 w.p. .5, 1 w.p. .25 (from the expected_walk tree), so
    # tokens/round = 3/R has mean .25*1 + .5*1.5 + .25*3 = 1.75 and 2.5/97.5 percentiles 1 and 3.
    est = monte_carlo_tokens_per_round([HALF], [fixed_draft_lengths(3, 2)], n_passes=4000, seed=3)
    assert est.mean == pytest.approx(1.75, abs=0.05)
    assert est.ci95 == (1.0, 3.0)
    assert len(est.samples) == 4000


def test_monte_carlo_of_0_1_betas_is_the_greedy_walk():
    m = np.array([1, 1, 0, 1, 1, 1, 0, 0, 1], bool)
    est = monte_carlo_tokens_per_round([m.astype(float)], [fixed_draft_lengths(9, 3)], 50)
    assert est.ci95[0] == est.ci95[1] == pytest.approx(greedy_walk(m, 3).tokens_per_round)


# ---- closed form, coverage, per-position acceptance --------------------------------------------


def test_topk_coverage():
    ranks = np.array([0, 1, 8, 2, 0, 7])  # 8 = not in the top 8
    assert [topk_coverage(ranks, k) for k in (1, 2, 4, 8)] == pytest.approx(
        [2 / 6, 3 / 6, 4 / 6, 5 / 6]
    )
    with pytest.raises(ValueError):
        topk_coverage(ranks, 9)


def test_acceptance_by_position():
    # values 1 1 0 1: k=1 -> mean 3/4; k=2 -> windows (1,1) (1,0) (0,1): 1 accepted pair out of
    # 2 windows whose first token was accepted -> 1/2.
    assert acceptance_by_position([np.array([1, 1, 0, 1.0])], 2) == pytest.approx([0.75, 0.5])
