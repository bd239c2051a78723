"""What an emulated device sends: the rounds the alignment walk counts, the draft's tokens, the
calls it pays, and drafting times drawn from the profile's raw samples."""

from __future__ import annotations

import numpy as np
import pytest

from configspec.alignment.walk import greedy_walk, threshold_walk
from configspec.fleet.workload import PromptWork, StepSamples, plan_rounds
from configspec.profiles.policy import Policy


def work(match, confidence=None) -> PromptWork:
    n = len(match)
    return PromptWork("p", [1, 2, 3], np.arange(10, 10 + n), np.asarray(match, bool),
                      np.asarray(confidence if confidence is not None else np.ones(n), float))  # fmt: skip


@pytest.mark.parametrize("k", [1, 2, 4, 8])
def test_fixed_k_rounds_are_the_walks(k):
    rng = np.random.default_rng(k)
    w = work(rng.random(60) < 0.7)
    rounds = plan_rounds(w, Policy.fixed(k), 1000)
    walk = greedy_walk(w.match, k)
    assert len(rounds) == walk.rounds
    assert sum(len(r.drafted) for r in rounds) == walk.drafted
    assert sum(r.accepted for r in rounds) == walk.accepted
    assert sum(r.emitted for r in rounds) == len(w) == walk.tokens
    assert all(r.calls == len(r.drafted) for r in rounds)


def test_threshold_rounds_are_the_walks_and_pay_the_stopping_call():
    rng = np.random.default_rng(3)
    w = work(rng.random(80) < 0.6, rng.random(80))
    rounds = plan_rounds(w, Policy.threshold(6, 0.4), 1000)
    walk = threshold_walk(w.match, w.confidence, 6, 0.4)
    assert (len(rounds), sum(len(r.drafted) for r in rounds)) == (walk.rounds, walk.drafted)
    assert sum(r.calls for r in rounds) == walk.drafted + walk.stopped_early  # the walk's rule
    for r in rounds:
        d = len(r.drafted)
        stopped = d < 6 and r.start + d < len(w) - 1
        assert r.calls == d + stopped
        if stopped:
            assert w.confidence[r.start + d] < 0.4


def test_drafted_tokens_match_then_differ_at_the_first_mismatch():
    w = work([True, True, False, True, True, True, True, True])
    first = plan_rounds(w, Policy.fixed(4), 1000)[0]
    assert first.drafted[:2] == [10, 11]  # the target's tokens where the draft matched
    assert first.drafted[2] != 12  # the draft's own, different guess
    assert (first.accepted, first.token, first.emitted) == (2, 12, 3)
    assert plan_rounds(w, Policy.fixed(4), 1000)[1].start == 3


def test_drafting_time_is_a_sum_of_raw_samples_at_the_nearest_context():
    steps = StepSamples((16, 512), (np.array([0.01, 0.02]), np.array([0.5, 0.5])))
    rng = np.random.default_rng(0)
    assert steps.draw_s(0, 100, rng) == 0.0
    times = [steps.draw_s(3, 100, rng) for _ in range(200)]
    assert set(np.round(times, 6)) <= {0.03, 0.04, 0.05, 0.06}
    assert steps.draw_s(2, 400, rng) == pytest.approx(1.0)
    assert steps.mean_s(20) == pytest.approx(0.015)
