"""Rollouts past the draft's own wrong token: the walk with them drafts exactly what a threshold
draft drafts (configspec's softmax tau and llama.cpp's draft-simple p-min, on fake models), and
forks of a real llama.cpp cache give what a plain sequential run gives."""

from __future__ import annotations

import numpy as np
import pytest

from configspec.alignment.rollouts import branch_points, rollouts
from configspec.alignment.summarize import threshold_lengths
from configspec.alignment.traces import (
    draft_logits,
    generate,
    llama_cpp_confidence,
    position_stats,
)
from configspec.alignment.walk import (
    fixed_draft_lengths,
    rollout_draft_lengths,
    threshold_draft_lengths,
    walk_with_lengths,
)
from configspec.speculative.sampling import max_probability
from tests.fakes import FakeRunner, agreeing_draft, hashed_logits, reference_decode

V = 64


def _traced(seed, n, k_max, tau_min):
    target_fn = hashed_logits(seed, V, peak=3.0)
    draft_fn = agreeing_draft(target_fn, seed + 1, V, agree_every=3, peak=4.0)
    target, draft = FakeRunner(target_fn, V), FakeRunner(draft_fn, V)
    prompt = [1, 2, 3]
    cont = generate(target, prompt, n, 0.0)
    rows = draft_logits(draft, prompt, [cont.tokens])[0]
    trace = position_stats("p", cont.tokens, rows)
    draft.open_forks(8, k_max - 1)
    trace.confidence_past_miss, trace.llama_cpp_confidence_past_miss = rollouts(
        draft, prompt, cont.tokens, rows, trace.match, trace.llama_cpp_confidence, k_max - 1,
        tau_min,
    )  # fmt: skip
    return target_fn, draft_fn, prompt, cont, trace


@pytest.mark.parametrize("seed", [21, 33])
@pytest.mark.parametrize("llama_cpp", [True, False], ids=["llama.cpp", "softmax"])
def test_the_walk_with_rollouts_drafts_what_the_decoder_drafts(seed, llama_cpp):
    n, k_max, tau_min = 60, 8, 0.3
    target_fn, draft_fn, prompt, cont, trace = _traced(seed, n, k_max, tau_min)
    assert 0 < trace.match.mean() < 1
    assert len(branch_points(trace.match, trace.llama_cpp_confidence, tau_min)) > 8  # > forks
    confidence = llama_cpp_confidence if llama_cpp else max_probability
    teacher_forced = trace.llama_cpp_confidence if llama_cpp else trace.confidence
    approximate_differs = False
    for tau in (0.3, 0.5, 0.7):
        rounds, drafted, out = reference_decode(target_fn, draft_fn, prompt, n, k_max, tau,
                                                confidence)  # fmt: skip
        assert out == cont.tokens.tolist()
        caps = fixed_draft_lengths(n, k_max)
        lengths = threshold_lengths(trace, k_max, tau, llama_cpp)
        walk = walk_with_lengths(trace.match, lengths, caps)
        assert (walk.rounds, walk.drafted, walk.tokens) == (rounds, drafted, n)
        approximate = threshold_draft_lengths(teacher_forced, k_max, tau)
        approximate_differs |= walk_with_lengths(trace.match, approximate).drafted != drafted
    assert approximate_differs  # the rollouts change the count on these traces


def test_rollouts_stop_below_tau_min_and_at_the_end_of_the_text():
    n, k_max, tau_min = 40, 6, 0.5
    *_, trace = _traced(5, n, k_max, tau_min)
    rollout = trace.llama_cpp_confidence_past_miss
    assert rollout.shape == trace.confidence_past_miss.shape == (n, k_max - 1)
    assert np.all(trace.confidence_past_miss <= rollout + 1e-6)  # top-10 renormalises upwards
    points = branch_points(trace.match, trace.llama_cpp_confidence, tau_min)
    assert points and np.all(rollout[[m for m in range(n) if m not in points]] == 0)
    for m in points:
        row = rollout[m]
        computed = row > 0
        first_stop = np.flatnonzero(row < tau_min)
        last = first_stop[0] if first_stop.size else k_max - 2
        assert computed[: last + 1].all() or m + 1 + last > n - 2  # run on until below tau_min
        assert not computed[last + 1 :].any()  # and no further
        assert computed.sum() <= n - 2 - m  # never past the last position a round drafts


def test_rollout_draft_lengths_by_hand():
    # s=0: match, match, miss at 2 (confident), so D = 3 + the rollout's run at 2 (2 tokens)
    matches = np.array([1, 1, 0, 1, 1, 1, 1, 1, 1, 1], bool)
    confidence = np.array([0.9, 0.9, 0.8, 0.2, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9])
    rollout = np.zeros((10, 5))
    rollout[2] = [0.9, 0.7, 0.4, 0.9, 0.9]
    d = rollout_draft_lengths(matches, confidence, rollout, 8, 0.5)
    assert d[0] == 5 and d[1] == 4 and d[2] == 3  # 2 + own run of 2, 1 + 2, 0 + 1 + 2
    assert d[3] == 0  # low confidence first: stops before drafting
    assert d[4] == 5  # no mismatch ahead: the confident run, cut at the end (n - 1 - s)
    assert rollout_draft_lengths(matches, confidence, rollout, 4, 0.5)[0] == 4  # n-max
    assert rollout_draft_lengths(matches, confidence, rollout, 8, 0.85)[0] == 2  # stops at 2


@pytest.mark.real_model
def test_forks_of_a_real_llama_cpp_cache_match_a_sequential_run(demo_registry, test_threads):
    from configspec.runners import open_runner
    from configspec.sources.resolve import model_file

    entry = demo_registry.get("qwen2.5-coder-0.5b")
    path = model_file(entry, "Q4_K_M")
    steps = 4
    with open_runner(entry.backend, path, threads=test_threads, n_ctx=512) as draft:
        draft.open_forks(3, steps)  # fewer forks than branch points: chunks of 3
        prompt = draft.tokenize("def fibonacci(n):\n    ", add_special=False)
        cont = generate(draft, prompt, 20, 0.0).tokens.copy()
        other = draft.tokenize(" the", add_special=False)[0]
        cont[[4, 9, 14]] = other  # text the draft did not write: its top tokens miss there
        rows = draft_logits(draft, prompt, [cont])[0]
        trace = position_stats("p", cont, rows)
        points = branch_points(trace.match, trace.llama_cpp_confidence, 0.0)
        assert len(points) >= 4
        _, rollout = rollouts(draft, prompt, cont, rows, trace.match,
                              trace.llama_cpp_confidence, steps, 0.0)  # fmt: skip
        got, want = [], []
        for m in points:
            draft.reset()
            row = draft.forward([*prompt, *cont[:m].tolist(), int(np.argmax(rows[m]))])
            expected = []
            for _ in range(min(steps, len(cont) - 2 - m)):
                expected.append(float(llama_cpp_confidence(row)))
                row = draft.forward([int(np.argmax(row))])
            got += rollout[m, : len(expected)].tolist()
            want += expected
    # ggml's CPU kernels take rows in groups of 4 and the leftovers one by one, with different
    # arithmetic (docs/verification.md), so a row's numbers depend on the call it rode in: the
    # forks' calls differ from a sequential run's. A wrong position or a lost prefix would move
    # confidences by far more than that.
    diff = np.abs(np.array(got) - np.array(want))
    print(f"{len(diff)} confidences: mean |diff| {diff.mean():.4f}, max {diff.max():.4f}")
    assert diff.max() < 0.05 and diff.mean() < 0.01
