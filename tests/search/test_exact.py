"""Exact enumeration against a brute-force Python loop; constraints; Pareto and hypervolume."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from configspec.errors import ConfigspecError
from configspec.search.exact import Limits, enumerate_device
from configspec.search.pareto import hypervolume, knee_index, pareto_mask
from tests.search.spaces import random_space

WEIGHTS = np.ones(3)


def brute_force_metrics(space) -> list[tuple[float, float, float]]:
    """The model written out again as a scalar loop, independently of the vectorised code."""
    t = space.terms
    out = []
    for i in range(len(space)):
        x = {k: float(v[i]) for k, v in vars(space.inputs).items()}
        draft_s = (x["drafted"] + x["extra_steps"]) * x["step_s"] + x["ingest_s"]
        net_s = 0.0
        if x["network"]:  # the draft crosses the network; the target alone does not
            up = t.header_bytes + (x["drafted"] + 1) * t.token_id_bytes
            down = t.header_bytes + t.verdict_bytes
            net_s = t.rtt_s + 8 * up / t.up_bit_s + 8 * down / t.down_bit_s
        round_s = draft_s + net_s + x["verify_s"] + t.overhead_s
        goodput = x["tokens"] / round_s
        server = t.server_usd_per_hour / 3600 * x["verify_s"] / t.batch / x["tokens"]
        edge_j = edge = 0.0
        if x["edge"]:  # the device takes part: its hardware, electricity and energy count
            avg_w = (x["draft_w"] * draft_s + t.idle_w * (round_s - draft_s)) / round_s
            hourly = t.purchase_usd / (t.lifetime_h * t.utilisation) + avg_w / 1000 * t.usd_per_kwh
            edge = hourly / (3600 * goodput)
            edge_j = x["draft_w"] * draft_s + t.idle_w * (round_s - draft_s)
        joules = (edge_j + x["verify_j"] / t.batch) / x["tokens"]
        out.append((goodput, 1e6 * (server + edge), joules))
    return out


def brute_force_front(points: list[tuple[float, float, float]]) -> set[int]:
    def dominates(a, b):  # minimisation on (-goodput, cost, energy)
        fa, fb = (-a[0], a[1], a[2]), (-b[0], b[1], b[2])
        return all(x <= y for x, y in zip(fa, fb, strict=True)) and fa != fb

    return {i for i, p in enumerate(points) if not any(dominates(q, p) for q in points)}


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000), drafts=st.integers(1, 3), quants=st.integers(1, 3),
    ks=st.integers(1, 6), taus=st.integers(0, 3),
)  # fmt: skip
def test_enumeration_equals_a_brute_force_loop(seed, drafts, quants, ks, taus):
    space = random_space(seed, drafts, quants, ks, taus, target_alone=seed % 2 == 0)
    result = enumerate_device(space, Limits(), WEIGHTS)
    points = brute_force_metrics(space)
    np.testing.assert_allclose(result.metrics.goodput_tok_s, [p[0] for p in points], rtol=1e-12)
    np.testing.assert_allclose(result.metrics.usd_per_1m_tokens, [p[1] for p in points], rtol=1e-12)
    np.testing.assert_allclose(result.metrics.joules_per_token, [p[2] for p in points], rtol=1e-12)
    assert {result.index(p) for p in result.front} == brute_force_front(points)
    best_goodput = max(
        range(len(points)), key=lambda i: (points[i][0], -points[i][1], -points[i][2])
    )
    best_cost = min(range(len(points)), key=lambda i: (points[i][1], points[i][2], -points[i][0]))
    best_energy = min(range(len(points)), key=lambda i: (points[i][2], -points[i][0], points[i][1]))
    assert points[result.index(result.picks["goodput"])] == points[best_goodput]
    assert points[result.index(result.picks["cost"])] == points[best_cost]
    assert points[result.index(result.picks["energy"])] == points[best_energy]
    assert result.picks["balanced"] in set(result.front)


def test_constraints_filter_and_impossible_ones_raise_one_line():
    space = random_space(3, 2, 2, 6, 2)
    full = enumerate_device(space, Limits(), WEIGHTS)
    median = float(np.median(full.metrics.goodput_tok_s))
    limited = enumerate_device(space, Limits(min_goodput_tok_s=median), WEIGHTS)
    assert len(limited.feasible) < len(full.feasible)
    assert (limited.metrics.goodput_tok_s[limited.feasible] >= median).all()
    best = full.metrics.goodput_tok_s.max()
    with pytest.raises(ConfigspecError) as err:
        enumerate_device(space, Limits(min_goodput_tok_s=best * 2, max_joules_per_token=1e-9),
                         WEIGHTS)  # fmt: skip
    message = str(err.value)
    assert "--min-goodput" in message and "--max-joules-per-token" in message
    assert f"best {best:.3g}" in message and "\n" not in message


def test_constraints_that_conflict_only_together_say_so():
    space = random_space(5, 2, 2, 8, 2)
    m = enumerate_device(space, Limits(), WEIGHTS).metrics
    fastest = int(np.argmax(m.goodput_tok_s))
    frugal = int(np.argmin(m.joules_per_token))
    if fastest == frugal:
        pytest.fail("fixture space should trade goodput against energy")
    limits = Limits(min_goodput_tok_s=float(m.goodput_tok_s[fastest]),
                    max_joules_per_token=float(m.joules_per_token[frugal]))  # fmt: skip
    with pytest.raises(ConfigspecError, match="together"):
        enumerate_device(space, limits, WEIGHTS)


def test_pareto_mask_by_hand():
    f = np.array([[1, 5], [2, 2], [5, 1], [3, 3], [2, 2]], float)
    # (3, 3) is dominated by (2, 2); the duplicate (2, 2) is kept
    assert pareto_mask(f).tolist() == [True, True, True, False, True]


def test_knee_is_closest_to_the_ideal_after_normalisation():
    front = np.array([[0, 10], [4, 4], [10, 0]], float)
    # normalised: (0, 1), (0.4, 0.4), (1, 0); distances 1, 0.566, 1 -> the middle point
    assert knee_index(front, np.ones(2)) == 1
    # weighting the first objective 100x: sqrt(100 x 0.16 + 0.16) = 4.02 > 1 -> (0, 10)
    assert knee_index(front, np.array([100.0, 1.0])) == 0


def test_hypervolume_by_hand_and_against_optuna():
    # 2-D: points (1, 2), (2, 1), ref (3, 3): union of [1,3]x[2,3] and [2,3]x[1,3] = 2 + 2 - 1 = 3
    assert hypervolume(np.array([[1, 2], [2, 1]], float), np.array([3, 3.0])) == pytest.approx(3)
    # 3-D: one point at the origin, ref (1, 2, 3): a box of volume 6
    assert hypervolume(np.zeros((1, 3)), np.array([1, 2, 3.0])) == pytest.approx(6)
    from optuna._hypervolume import compute_hypervolume

    rng = np.random.default_rng(0)
    for _ in range(20):
        points = rng.uniform(0, 1, (int(rng.integers(1, 30)), 3))
        ref = np.full(3, 1.1)
        assert hypervolume(points, ref) == pytest.approx(compute_hypervolume(points, ref))


def test_policies_are_labelled_one_way():
    space = random_space(1, 1, 1, 3, 1)
    labels = [p.label for p in space.policy]
    assert labels == ["K=1", "K=2", "K=3", "K<=3 tau=0.2"]
    assert space.label(3) == "d0 q0 K<=3 tau=0.2"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(*[st.integers(0, 4)] * 3), min_size=1, max_size=40))
def test_pareto_mask_with_ties_equals_brute_force(rows):
    f = np.array(rows, float)
    expected = [
        not any(np.all(f[j] <= f[i]) and np.any(f[j] < f[i]) for j in range(len(f)))
        for i in range(len(f))
    ]
    assert pareto_mask(f).tolist() == expected
