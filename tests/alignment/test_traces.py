"""Per-position figures from logits (golden values), generation, teacher forcing and storage."""

from __future__ import annotations

import io

import numpy as np
import pytest

from configspec.alignment.summarize import DEFAULT_TAU_GRID, summarize_cell, summarize_prompt
from configspec.alignment.traces import (
    draft_logits,
    generate,
    llama_cpp_confidence,
    pack_traces,
    position_stats,
    prompt_rng,
    sample_token,
    unpack_traces,
)
from configspec.alignment.walk import greedy_walk, threshold_walk, total
from tests.fakes import FakeRunner, agreeing_draft, hashed_logits, reference_decode

V = 40


def logs(*probs):
    return np.log(np.asarray(probs, dtype=np.float64))


# Draft rows for target tokens [1, 2]: row 0 puts .6 on token 1 (a match, rank 0); row 1 puts .5
# on token 0 and .25 on token 2 (no match, rank 1).
DRAFT = np.stack([logs(0.1, 0.6, 0.2, 0.1), logs(0.5, 0.2, 0.25, 0.05)]).astype(np.float32)
TOKENS = np.array([1, 2])


def test_greedy_position_stats_golden():
    t = position_stats("p", TOKENS, DRAFT)
    assert t.match.tolist() == [True, False]
    assert t.rank.tolist() == [0, 1]
    assert t.confidence == pytest.approx([0.6, 0.5], abs=1e-6)  # argmax probability at T=1
    assert t.beta is None


def test_llama_cpp_confidence_renormalises_over_the_top_ten():
    # 12 logits: one at log(4), eleven at 0. Full softmax: 4 / (4 + 11) = 0.2667; llama.cpp keeps
    # the top 10 (the 4 and nine 1s) and renormalises: 4 / (4 + 9) = 0.3077.
    row = np.log(np.array([[4.0] + [1.0] * 11]))
    assert llama_cpp_confidence(row)[0] == pytest.approx(4 / 13)
    t = position_stats("p", np.array([0]), row.astype(np.float32))
    assert t.confidence[0] == pytest.approx(4 / 15, abs=1e-6)
    assert t.llama_cpp_confidence[0] == pytest.approx(4 / 13, abs=1e-6)
    # never below the full softmax, and equal to it when the vocabulary has 10 tokens or fewer
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(50, V)) * 2
    full = np.exp(rows.max(axis=1)) / np.exp(rows).sum(axis=1)
    assert (llama_cpp_confidence(rows) >= full - 1e-12).all()
    assert llama_cpp_confidence(rows[:, :10]) == pytest.approx(
        np.exp(rows[:, :10].max(axis=1)) / np.exp(rows[:, :10]).sum(axis=1)
    )


def test_sampled_position_stats_golden():
    # target row 0 equals the draft's -> beta 1; target row 1 uniform ->
    # beta = min(.5,.25) + min(.2,.25) + min(.25,.25) + min(.05,.25) = .75
    target = np.stack([logs(0.1, 0.6, 0.2, 0.1), logs(0.25, 0.25, 0.25, 0.25)])
    t = position_stats("p", TOKENS, DRAFT, target, temperature=1.0)
    assert t.beta == pytest.approx([1.0, 0.75], abs=1e-6)
    # at T=0.5, q is proportional to p^2: row 0 -> .36 / (.01+.36+.04+.01) = .857142...
    t_half = position_stats("p", TOKENS, DRAFT, target, temperature=0.5)
    assert t_half.confidence[0] == pytest.approx(0.36 / 0.42, abs=1e-6)


def test_beta_uses_the_common_vocabulary_when_padding_differs():
    target = np.concatenate([DRAFT, np.full((2, 3), -1e9, np.float32)], axis=1)  # 3 dead pads
    t = position_stats("p", TOKENS, DRAFT, target, temperature=1.0)
    assert t.beta == pytest.approx([1.0, 1.0], abs=1e-6)


def test_rank_is_capped_at_8():
    row = np.arange(20, dtype=np.float32)[None, :]  # token 0 has the lowest logit: 19 above it
    assert position_stats("p", np.array([0]), row).rank.tolist() == [8]
    assert position_stats("p", np.array([13]), row).rank.tolist() == [6]


def test_sample_token_is_seeded_and_follows_the_distribution():
    logits = logs(0.5, 0.3, 0.2)
    draws = [sample_token(logits, 1.0, prompt_rng(3, "a")) for _ in range(3)]
    assert len(set(draws)) == 1  # same seed and prompt id: same draw
    rng = np.random.default_rng(0)
    counts = np.bincount([sample_token(logits, 1.0, rng) for _ in range(20000)], minlength=3)
    assert counts / 20000 == pytest.approx([0.5, 0.3, 0.2], abs=0.015)
    cold = [sample_token(logits, 0.05, rng) for _ in range(200)]
    assert set(cold) == {0}  # T -> 0 concentrates on the argmax


def test_generate_greedy_follows_argmax_and_stops_after_a_stop_token():
    fn = hashed_logits(1, V, peak=3.0)
    target = FakeRunner(fn, V)
    prompt = [3, 4, 5]
    cont = generate(target, prompt, 12, 0.0)
    prefix = list(prompt)
    for t, token in enumerate(cont.tokens):
        expected_row = fn(tuple(prefix))
        assert np.allclose(cont.logits[t], expected_row.astype(np.float32))
        assert token == int(np.argmax(expected_row))
        prefix.append(int(token))
    assert len(cont.tokens) == 12
    stop = int(cont.tokens[4])
    first = int(np.flatnonzero(cont.tokens == stop)[0])
    stopped = generate(target, prompt, 12, 0.0, stop_tokens=frozenset({stop}))
    assert stopped.tokens.tolist() == cont.tokens[: first + 1].tolist()


def test_generate_sampled_is_reproducible_per_prompt_id():
    target = FakeRunner(hashed_logits(2, V, peak=1.0), V)
    a = generate(target, [1, 2], 20, 0.7, prompt_rng(0, "x"))
    b = generate(target, [1, 2], 20, 0.7, prompt_rng(0, "x"))
    c = generate(target, [1, 2], 20, 0.7, prompt_rng(1, "x"))
    assert a.tokens.tolist() == b.tokens.tolist()
    assert a.tokens.tolist() != c.tokens.tolist()


def test_draft_logits_row_t_predicts_token_t():
    fn = hashed_logits(5, V, peak=3.0)
    draft = FakeRunner(fn, V)
    prompt = [7, 8, 9, 10]
    conts = [np.array([1, 2, 3]), np.array([4, 5, 6, 7, 8])]
    rows = draft_logits(draft, prompt, conts)
    for cont, r in zip(conts, rows, strict=True):
        assert r.shape == (len(cont), V)
        for t in range(len(cont)):
            expected = fn(tuple(prompt + cont[:t].tolist())).astype(np.float32)
            assert np.allclose(r[t], expected)


@pytest.mark.parametrize("k", [1, 2, 4, 8])
def test_greedy_walk_of_the_trace_equals_a_real_greedy_decoder(k):
    target_fn = hashed_logits(11, V, peak=3.0)
    draft_fn = agreeing_draft(target_fn, 12, V, agree_every=3, peak=3.0)
    target, draft = FakeRunner(target_fn, V), FakeRunner(draft_fn, V)
    prompt, n = [1, 2, 3], 30
    cont = generate(target, prompt, n, 0.0)
    trace = position_stats("p", cont.tokens, draft_logits(draft, prompt, [cont.tokens])[0])
    assert 0 < trace.match.mean() < 1  # the test needs both matches and mismatches
    rounds, _, out = reference_decode(target_fn, draft_fn, prompt, n, k)
    assert out == cont.tokens.tolist()
    walk = greedy_walk(trace.match, k)
    assert walk.rounds == rounds and walk.tokens == n


def _random_trace(rng, n, prompt_id, sampled, n_agree=0):
    """Random logits; the target token is the draft's argmax on the first n_agree positions."""
    rows = rng.normal(size=(n, V)).astype(np.float32) * 3
    tokens = rng.integers(0, V, n)
    tokens[:n_agree] = rows[:n_agree].argmax(axis=1)
    return position_stats(
        prompt_id, tokens, rows,
        rng.normal(size=(n, V)).astype(np.float32) * 3 if sampled else None,
        0.7 if sampled else 0.0,
    )  # fmt: skip


def test_summarize_cell_agrees_with_the_walks():
    rng = np.random.default_rng(4)
    traces = [_random_trace(rng, n, f"p{i}", False, 10) for i, n in enumerate((25, 40))]
    sums = [summarize_prompt(t, 8, DEFAULT_TAU_GRID, 10, 0) for t in traces]
    cell = summarize_cell(traces, sums, 8, DEFAULT_TAU_GRID)
    for k in (1, 3, 8):
        walk = total(greedy_walk(t.match, k) for t in traces)
        assert cell.fixed_k[k - 1].tokens_per_round == pytest.approx(walk.tokens_per_round)
        assert cell.fixed_k[k - 1].rounds == walk.rounds
        assert 1.0 <= cell.fixed_k[k - 1].tokens_per_round <= k + 1
        assert cell.fixed_k[k - 1].reuse_per_round == pytest.approx(walk.reuse_rate)
    assert cell.fixed_k[0].reuse_per_round > 0  # the proactive reuse rate is recorded
    walk = total(threshold_walk(t.match, t.confidence, 8, 0.3) for t in traces)
    assert cell.threshold[2].tau == 0.3
    assert cell.threshold[2].reuse_per_round is None  # proactive drafting is fixed K only
    assert cell.threshold[2].drafted_per_round == pytest.approx(walk.drafted_per_round)
    all_match = np.concatenate([t.match for t in traces])
    assert cell.acceptance_rate == pytest.approx(all_match.mean())
    assert cell.topk_coverage[1] == pytest.approx(all_match.mean())  # top-1 == argmax match
    assert cell.n_positions == 65
    # llama.cpp's p-min reads a higher confidence, so it drafts at least as many tokens per round
    for mine, llama in zip(cell.threshold, cell.llama_cpp_threshold, strict=True):
        assert mine.policy == llama.policy
        assert llama.drafted_per_round >= mine.drafted_per_round
    walk = total(threshold_walk(t.match, t.llama_cpp_confidence, 8, 0.3) for t in traces)
    assert cell.llama_cpp_threshold[2].tokens_per_round == pytest.approx(walk.tokens_per_round)
    assert all(p.stopped_early_per_round == 0 for p in cell.fixed_k)  # fixed K never stops early


def test_summarize_sampled_cell_has_intervals_around_the_expectation():
    rng = np.random.default_rng(5)
    traces = [_random_trace(rng, 60, f"p{i}", True) for i in range(3)]
    for t in traces:
        t.beta[:] = np.clip(t.beta + 0.6, 0, 1)  # realistic acceptance levels
    sums = [summarize_prompt(t, 8, DEFAULT_TAU_GRID, 400, 0) for t in traces]
    cell = summarize_cell(traces, sums, 8, DEFAULT_TAU_GRID)
    for stats in cell.fixed_k:
        low, high = stats.tokens_per_round_ci95
        assert low <= stats.tokens_per_round <= high
        assert 1.0 <= stats.tokens_per_round <= stats.k_max + 1
        assert stats.expected_tokens_per_start is not None
        assert stats.reuse_per_round is None  # from greedy matches only
    assert cell.acceptance_rate == pytest.approx(np.concatenate([t.beta for t in traces]).mean())


def test_pack_and_unpack_round_trip():
    rng = np.random.default_rng(6)
    traces = [_random_trace(rng, n, f"p{i}", True) for i, n in enumerate((5, 9))]
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **pack_traces("t/d/Q4/sampled", traces))
    buffer.seek(0)
    back = unpack_traces(np.load(buffer), "t/d/Q4/sampled", ["p0", "p1"])
    for a, b in zip(traces, back, strict=True):
        assert a.prompt_id == b.prompt_id
        for name in ("tokens", "match", "confidence", "rank", "beta", "llama_cpp_confidence"):
            assert np.array_equal(getattr(a, name), getattr(b, name))
