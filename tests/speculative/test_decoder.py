"""The speculative decoder on faithful fake runners: lossless greedy, exact rejection sampling,
cache rollback, confidence-threshold drafting, counters and timings."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from configspec.alignment.walk import greedy_walk
from configspec.errors import ConfigspecError
from configspec.speculative import DecodeConfig, SpeculativeDecoder, target_only
from configspec.speculative.sampling import max_probability, softmax
from tests.fakes import FakeRunner, agreeing_draft, hashed_logits, table_logits

V = 40
PROMPT = [3, 1, 4, 1, 5]


def pair(n_ctx: int = 4096, agree_every: int = 4):
    target_fn = hashed_logits(11, V, peak=4.0)
    target = FakeRunner(target_fn, V, n_ctx=n_ctx)
    draft = FakeRunner(agreeing_draft(target_fn, 23, V, agree_every, peak=4.0), V, n_ctx=n_ctx)
    return draft, target


def test_draft_agrees_partly_with_target():
    """Precondition for the other tests: the fake draft is neither always right nor always wrong."""
    draft, target = pair()
    reference = target_only(target, PROMPT, 200)
    full = PROMPT + reference
    rows = draft.forward(full[:-1], all_logits=True)[len(PROMPT) - 1 :]
    matches = np.argmax(rows, axis=1) == np.array(reference)
    assert 0.5 < matches.mean() < 0.95


@pytest.mark.parametrize("k", [1, 2, 4, 8])
@pytest.mark.parametrize("tau", [None, 0.3])
def test_greedy_output_equals_target_only(k, tau):
    draft, target = pair()
    reference = target_only(target, PROMPT, 60)
    result = SpeculativeDecoder(draft, target).generate(
        PROMPT, DecodeConfig(k=k, tau=tau, max_new_tokens=60)
    )
    assert result.tokens == reference
    assert sum(r.accepted for r in result.rounds) > 0  # speculation actually happened


def test_greedy_walks_matches_like_a_trace():
    """Rounds accept the run of draft==target matches (up to K) and emit one more token."""
    draft, target = pair()
    reference = target_only(target, PROMPT, 80)
    full = PROMPT + reference
    rows = draft.forward(full[:-1], all_logits=True)[len(PROMPT) - 1 :]
    matches = list(np.argmax(rows, axis=1) == np.array(reference))
    for k in (1, 3, 8):
        result = SpeculativeDecoder(draft, target).generate(
            PROMPT, DecodeConfig(k=k, max_new_tokens=80)
        )
        start = 0
        for r in result.rounds:
            run = 0
            while run < k and start + run < len(matches) and matches[start + run]:
                run += 1
            assert r.accepted == min(run, len(matches) - start)
            start += r.accepted + 1
        assert start >= len(matches)


def test_counters_follow_vllm_naming_and_add_up():
    draft, target = pair()
    result = SpeculativeDecoder(draft, target).generate(
        PROMPT, DecodeConfig(k=4, max_new_tokens=70)
    )
    m = result.metrics(k_max=4)
    assert len(result.tokens) == 70 == sum(len(r.emitted) for r in result.rounds)
    assert m.num_drafts == len(result.rounds) - 1  # the last round starts with 1 token left
    assert m.num_draft_tokens == sum(len(r.drafted) for r in result.rounds)
    assert m.num_accepted_tokens == sum(r.accepted for r in result.rounds)
    assert m.num_accepted_tokens_per_pos[0] == sum(1 for r in result.rounds if r.accepted >= 1)
    assert sum(m.num_accepted_tokens_per_pos) == m.num_accepted_tokens
    per_pos = m.num_accepted_tokens_per_pos
    assert all(a >= b for a, b in zip(per_pos, per_pos[1:], strict=False))
    assert m.mean_acceptance_length == pytest.approx(1 + m.num_accepted_tokens / m.num_drafts)
    assert result.tokens_per_round == pytest.approx(70 / len(result.rounds))
    for r in result.rounds:
        assert len(r.target_argmax) == len(r.drafted) + 1
        assert r.emitted[: r.accepted] == r.drafted[: r.accepted]


@pytest.mark.parametrize("overlap", ["none", "proactive"])
def test_drafts_stop_where_the_walk_cuts_them(overlap):
    """A round drafts min(K, remaining - 1): the target adds a token itself (the alignment walk's
    end-of-text cut, so the decoder's rounds match the walk draft for draft)."""
    draft, target = pair(agree_every=9)  # long accepted runs: every round ends near the end
    reference = target_only(target, PROMPT, 50)
    full = PROMPT + reference
    rows = draft.forward(full[:-1], all_logits=True)[len(PROMPT) - 1 :]
    matches = np.argmax(rows, axis=1) == np.array(reference)
    for k, n in [(4, 33), (8, 50), (8, 2), (3, 1)]:
        result = SpeculativeDecoder(draft, target).generate(
            PROMPT, DecodeConfig(k=k, max_new_tokens=n, overlap=overlap)
        )
        counts = greedy_walk(matches[:n], k)
        assert result.tokens == reference[:n]
        assert len(result.rounds) == counts.rounds
        assert sum(len(r.drafted) for r in result.rounds) == counts.drafted
        generated = 0
        for r in result.rounds:
            assert len(r.drafted) == min(k, n - generated - 1)
            generated += len(r.emitted)
            assert len(r.predrafted) <= min(k, n - generated)


def test_caches_hold_the_committed_tokens_after_rollback():
    for k, n in [(1, 9), (4, 33), (8, 50), (8, 1)]:
        draft, target = pair()
        result = SpeculativeDecoder(draft, target).generate(
            PROMPT, DecodeConfig(k=k, max_new_tokens=n)
        )
        full = PROMPT + result.tokens
        # the target holds every committed token but the last (fed at the next round's head)
        assert target.n_past >= len(full) - 1
        m = min(target.n_past, len(full))
        assert target.cache[:m] == full[:m]
        m = min(draft.n_past, len(full))
        assert draft.cache[:m] == full[:m]
        # rolled back to the accepted prefix, not reset (a last round that drafts nothing leaves
        # the tokens of the round before and its own token un-ingested)
        assert draft.n_past >= len(full) - k - 2


def test_draft_forward_calls_count_one_per_drafted_token():
    draft, target = pair()
    result = SpeculativeDecoder(draft, target).generate(
        PROMPT, DecodeConfig(k=3, max_new_tokens=40)
    )
    assert draft.calls == 1 + sum(r.draft_calls for r in result.rounds)  # + the prompt prefill
    generated = 0
    for r in result.rounds:
        assert r.draft_calls == len(r.drafted) == min(3, 40 - generated - 1)
        generated += len(r.emitted)
    assert target.calls == 1 + len(result.rounds)  # one verification call per round


def test_confidence_threshold_stops_before_unsure_tokens():
    table_q = np.random.default_rng(5).dirichlet(np.full(6, 0.6), size=6)
    table_p = np.random.default_rng(6).dirichlet(np.full(6, 0.6), size=6)
    draft = FakeRunner(table_logits(table_q), 6)
    target = FakeRunner(table_logits(table_p), 6)
    tau = 0.5
    result = SpeculativeDecoder(draft, target).generate(
        [0, 1], DecodeConfig(k=5, tau=tau, max_new_tokens=120)
    )
    committed = [0, 1]
    for r in result.rounds:
        context = committed + r.drafted
        confidences = [table_q[t].max() for t in context[len(committed) - 1 :]]
        assert all(c >= tau for c in confidences[: len(r.drafted)])
        if len(r.drafted) < min(5, 120 - (len(committed) - 2) - 1):  # not cut by the end
            assert confidences[len(r.drafted)] < tau
            assert r.draft_calls == len(r.drafted) + 1
        committed += r.emitted
    assert committed[2:] == result.tokens == target_only(target, [0, 1], 120)
    drafted = [len(r.drafted) for r in result.rounds]
    assert 0 in drafted and max(drafted) > 0


@pytest.mark.parametrize("tau, drafted", [(1.0, 0), (0.0, 4)])
def test_threshold_extremes(tau, drafted):
    draft, target = pair()
    result = SpeculativeDecoder(draft, target).generate(
        PROMPT, DecodeConfig(k=4, tau=tau, max_new_tokens=30)
    )
    generated = 0
    for r in result.rounds:  # as many as tau lets through, but never past the end (30 - 1)
        assert len(r.drafted) == min(drafted, 30 - generated - 1)
        generated += len(r.emitted)
    assert result.tokens == target_only(target, PROMPT, 30)


def _transition_counts(tokens: list[int], n: int) -> np.ndarray:
    counts = np.zeros((n, n))
    for a, b in zip(tokens, tokens[1:], strict=False):
        counts[a, b] += 1
    return counts


def _chi2_pvalue(counts: np.ndarray, probs: np.ndarray) -> float:
    """Pearson chi-square of observed transitions against a bigram table, all rows together."""
    expected = counts.sum(axis=1, keepdims=True) * probs
    stat = ((counts - expected) ** 2 / expected).sum()
    dof = counts.shape[0] * (counts.shape[1] - 1)
    return float(stats.chi2.sf(stat, dof))


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_rejection_sampling_reproduces_the_target_distribution(temperature):
    n = 5
    table_p = np.random.default_rng(1).dirichlet(np.ones(n), size=n)
    table_q = np.random.default_rng(2).dirichlet(np.ones(n), size=n)
    draft = FakeRunner(table_logits(table_q), n, n_ctx=20_000)
    target = FakeRunner(table_logits(table_p), n, n_ctx=20_000)
    config = DecodeConfig(k=3, temperature=temperature, seed=1234, max_new_tokens=12_000)
    result = SpeculativeDecoder(draft, target).generate([0], config)
    counts = _transition_counts([0, *result.tokens], n)
    p_at_t = np.stack([softmax(np.log(row), temperature) for row in table_p])
    q_at_t = np.stack([softmax(np.log(row), temperature) for row in table_q])
    assert _chi2_pvalue(counts, p_at_t) > 1e-3  # the output follows the target ...
    assert _chi2_pvalue(counts, q_at_t) < 1e-12  # ... and the test can tell it from the draft
    # some drafts were rejected, some accepted: both branches of the test were exercised
    m = result.metrics()
    assert 0.2 < m.draft_acceptance_rate < 0.95


def test_sampling_is_reproducible_with_a_seed():
    draft, target = pair()
    a = SpeculativeDecoder(draft, target).generate(
        PROMPT, DecodeConfig(k=4, temperature=0.7, seed=9, max_new_tokens=40)
    )
    b = SpeculativeDecoder(draft, target).generate(
        PROMPT, DecodeConfig(k=4, temperature=0.7, seed=9, max_new_tokens=40)
    )
    c = SpeculativeDecoder(draft, target).generate(
        PROMPT, DecodeConfig(k=4, temperature=0.7, seed=10, max_new_tokens=40)
    )
    assert a.tokens == b.tokens
    assert a.tokens != c.tokens


def test_stop_token_ends_generation():
    draft, target = pair()
    reference = target_only(target, PROMPT, 60)
    stop = reference[17]
    first = reference.index(stop)
    result = SpeculativeDecoder(draft, target).generate(
        PROMPT, DecodeConfig(k=4, max_new_tokens=60, stop_tokens=frozenset({stop}))
    )
    assert result.tokens == reference[: first + 1]


def test_network_delay_is_slept_and_timings_add_up():
    draft, target = pair()
    result = SpeculativeDecoder(draft, target).generate(
        PROMPT, DecodeConfig(k=2, rtt_s=0.01, max_new_tokens=12)
    )
    for r in result.rounds:
        assert r.net_s >= 0.01
        assert min(r.draft_s, r.verify_s, r.other_s) > 0
        assert r.draft_s + r.net_s + r.verify_s + r.other_s == pytest.approx(r.total_s)
    split = result.time_split_s()
    assert split["total"] <= result.decode_s
    assert split["net"] >= 0.01 * len(result.rounds)


def test_max_probability_matches_softmax():
    logits = np.random.default_rng(0).normal(size=100)
    assert max_probability(logits, 0.7) == pytest.approx(softmax(logits, 0.7).max())


def test_bad_settings_are_one_line_errors():
    with pytest.raises(ConfigspecError, match="K must be at least 1"):
        DecodeConfig(k=0)
    with pytest.raises(ConfigspecError, match="tau"):
        DecodeConfig(k=2, tau=1.5)
    draft, target = pair(n_ctx=40)
    with pytest.raises(ConfigspecError, match="larger n_ctx"):
        SpeculativeDecoder(draft, target).generate(PROMPT, DecodeConfig(k=4, max_new_tokens=40))
