"""The joint fleet search: evaluation of a joint configuration, pruning, exact enumeration and
Optuna agree, latency targets as constraints, and the one-line answer when none can be met."""

from __future__ import annotations

from dataclasses import replace

import pytest

from configspec.analytic.batching import BatchCost
from configspec.analytic.fleet_model import GroupLoad
from configspec.errors import ConfigspecError
from configspec.profiles.policy import Policy
from configspec.search.fleet import (
    Candidate,
    Prices,
    ServerChoices,
    best,
    confirm,
    enumerate_joint,
    evaluate_joint,
    optuna_joint,
    prune,
    ranked,
)  # fmt: skip
from tests.builders import verification_profile

COST = BatchCost.of(verification_profile(batches=(1, 2, 4, 8)))
PRICES = Prices(0.1, 100.0, 600.0, 26280.0, 0.25, 0.165)
SERVER = ServerChoices((1, 4), (0.0, 0.005), chunk=8)


def candidate(group, k, tokens, step_s=0.05, count=3, target=None) -> Candidate:
    load = GroupLoad(group, count, tokens_per_round=tokens, round_tokens=k + 1.0,
                     draft_s=k * step_s, net_s=0.02, rounds_per_session=20.0, prefill_tokens=0.0,
                     context_tokens=256.0)  # fmt: skip
    return Candidate(group, "d", "Q4_K_M", Policy.fixed(k), load, 8.0, 2.0, target)


def spaces(target=None):
    return [[candidate("a", k, 1 + 0.7 * k, target=target) for k in (1, 2, 4, 8)],
            [candidate("b", k, 1 + 0.5 * k, step_s=0.1) for k in (1, 2, 4)]]  # fmt: skip


def test_a_joint_configuration_adds_up_the_fleet():
    j = evaluate_joint((spaces()[0][1], spaces()[1][0]), 4, 0.0, COST, PRICES, 8, 0.0)
    assert j.goodput_tok_s == pytest.approx(sum(p.tokens_per_s for p in j.prediction.groups))
    assert j.usd_per_1m_tokens > 0 and j.joules_per_token > 0 and j.feasible


def test_pruning_drops_what_asks_more_of_device_and_server_per_token():
    worse = candidate("a", 2, 1.2)  # the same costs as K=2 above, fewer tokens per round
    kept = prune([*spaces()[0], worse], COST)
    assert worse not in kept and spaces()[0][0] in kept


def test_exact_and_optuna_find_the_same_best_joint_pick():
    groups = spaces()
    exact = best(enumerate_joint(groups, SERVER, COST, PRICES), "goodput")
    found = best(optuna_joint(groups, SERVER, COST, PRICES, budget=60, storage=None, seed=0),
                 "goodput")  # fmt: skip
    assert found.goodput_tok_s == pytest.approx(exact.goodput_tok_s)
    assert len(enumerate_joint(groups, SERVER, COST, PRICES)) == 4 * 3 * 4


def test_latency_targets_constrain_the_pick():
    every = enumerate_joint(spaces(), SERVER, COST, PRICES)
    free = best(every, "goodput")
    fastest = min(j.prediction.groups[0].itl_s for j in every)
    assert fastest < free.prediction.groups[0].itl_s  # the best goodput is not the fastest
    target = (fastest + free.prediction.groups[0].itl_s) / 2
    bound = best(enumerate_joint(spaces(target=target), SERVER, COST, PRICES), "goodput")
    assert bound.prediction.groups[0].itl_s <= target
    assert bound.goodput_tok_s < free.goodput_tok_s


def test_an_impossible_target_names_the_best_achievable():
    with pytest.raises(ConfigspecError) as error:
        best(enumerate_joint(spaces(target=0.001), SERVER, COST, PRICES), "goodput")
    message = str(error.value)
    assert "group a's 1 ms (best achievable" in message and "\n" not in message


def test_the_simulation_reranks_the_best_by_mva():
    """confirm() re-evaluates the n best by MVA with another predictor; the pick is then that
    predictor's best among them. A stand-in predictor that halves every group's throughput
    when group a runs MVA's own pick for it overrules that pick."""
    every = enumerate_joint(spaces(), SERVER, COST, PRICES)
    by_mva = best(every, "goodput")
    k_mva = by_mva.picks[0].policy.k_max

    def stand_in(picks, server):
        pred = evaluate_joint(picks, server.max_batch, server.window_s, COST, PRICES,
                              server.prefill_chunk_tokens, 0.0).prediction  # fmt: skip
        if picks[0].policy.k_max != k_mva:
            return pred
        groups = [replace(g, tokens_per_s=g.tokens_per_s / 2) for g in pred.groups]
        return replace(pred, groups=groups, verified_tokens_per_s=pred.verified_tokens_per_s / 2)

    confirmed = confirm(every, "goodput", 10, COST, PRICES, 8, 0.0, stand_in)
    assert len(confirmed) == 10
    assert [(j.picks, j.max_batch, j.window_s) for j in confirmed] == [
        (j.picks, j.max_batch, j.window_s) for j in ranked(every, "goodput")[:10]
    ]
    pick = best(confirmed, "goodput")
    assert pick.picks[0].policy.k_max != k_mva
    assert pick.goodput_tok_s < by_mva.goodput_tok_s  # the stand-in's figure, not MVA's
