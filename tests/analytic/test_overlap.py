"""The overlapped round (proactive drafting): the formulas by hand, their phase averages against a
simulation of the decoder's rule, and the whole evaluation (docs/model.md, "Proactive drafting")."""

from __future__ import annotations

import numpy as np
import pytest

from configspec.analytic import formulas as f
from configspec.analytic.evaluate import evaluate
from tests.analytic.test_formulas import _one, _terms

T = 0.02  # draft step


@pytest.mark.parametrize(("flight_s", "cap", "tokens"), [
    (0.005, 4, 1.0),  # the first step always runs
    (0.03, 4, 2.0),  # F / t + 1/2
    (0.07, 4, 4.0),  # F >= (J - 1/2) t: all J
    (1.0, 4, 4.0),
    (1.0, 0, 0.0),  # synchronous: nothing pre-drafted
])  # fmt: skip
def test_predrafted_tokens(flight_s, cap, tokens):
    assert f.predrafted_tokens(flight_s, T, cap) == pytest.approx(tokens)


@pytest.mark.parametrize(("flight_s", "late_s"), [
    (0.005, 0.015),  # the first step's rest, t - F
    (0.03, 0.01),  # t / 2 over a uniform phase (c = 0.05 >= t / 2)
    (0.08, 0.0025),  # c = 0: (t / 2)^2 / (2 t) = t / 8
    (0.085, 0.000625),  # c = -0.005: (0.005)^2 / 0.04
    (0.2, 0.0),  # the J steps always end before the verdict
])  # fmt: skip
def test_predraft_late_s(flight_s, late_s):
    assert f.predraft_late_s(flight_s, T, 4) == pytest.approx(late_s)
    assert f.predraft_late_s(flight_s, T, 0) == 0.0


@pytest.mark.parametrize("center", [0.012, 0.027, 0.05, 0.071, 0.08, 0.088, 0.12])
def test_phase_averages_match_the_decoders_rule(center):
    """The decoder starts a step while no verdict is there: j = min(J, ceil(F / t)) steps, the
    verdict noticed at max(F, j t). Averaged over a flight spread uniformly over one step around
    `center`, both match the closed forms (away from F < t / 2, where the floor of one step
    governs instead)."""
    flights = np.linspace(center - T / 2, center + T / 2, 200_001)
    j = np.minimum(4, np.ceil(flights / T))
    late = np.maximum(0.0, j * T - flights)
    assert j.mean() == pytest.approx(float(f.predrafted_tokens(center, T, 4)), abs=1e-3)
    assert late.mean() == pytest.approx(float(f.predraft_late_s(center, T, 4)), abs=1e-5)


def test_carried_and_wasted_tokens():
    assert f.carried_drafts(0.5, 4.0) == pytest.approx(1.5)  # a hit carries j - 1
    assert f.carried_drafts(0.5, 0.0) == 0.0
    assert f.wasted_draft_tokens(0.25, 4.0) == pytest.approx(3.0)  # a miss drops all j


def test_a_synchronous_row_ignores_the_reuse_rate():
    plain = evaluate(_one(), _terms())
    also_plain = evaluate(_one(reuse=0.9, predraft_max=0.0), _terms())
    assert plain.row(0) == also_plain.row(0)
    assert plain.wasted_draft_j_per_token[0] == plain.predraft_s[0] == plain.late_s[0] == 0.0


def test_evaluate_a_proactive_round_by_hand():
    m = evaluate(_one(reuse=0.5, predraft_max=4.0), _terms())
    # flight = net 0.021072 + verify 0.07 = 0.091072 >= (4 - 1/2) x 0.02: j = 4, late 0
    # (c = 0.08 - 0.091072 = -0.011 <= -t / 2); carried 0.5 x 3 = 1.5; no two-token call:
    # draft (4 - 1.5) x 0.02 = 0.05; round 0.05 + 0.091072 = 0.141072 s
    assert m.predraft_s[0] == pytest.approx(0.08) and m.late_s[0] == 0.0
    assert m.draft_s[0] == pytest.approx(0.05)
    assert m.round_s[0] == pytest.approx(0.141072)
    assert m.goodput_tok_s[0] == pytest.approx(3 / 0.141072)
    # energy: (10 x (0.05 + 0.08) + 2 x (0.141072 - 0.13) + 7) / 3 = 2.774048 J; the wasted
    # share: 10 W x (0.5 x 4) tokens x 0.02 s / 3 tokens = 0.1333 J
    assert m.joules_per_token[0] == pytest.approx(2.774048)
    assert m.wasted_draft_j_per_token[0] == pytest.approx(0.4 / 3)
    # the server's work per round is unchanged; it serves fewer devices as rounds shorten
    plain = evaluate(_one(), _terms())
    assert m.server_usd_per_1m[0] == plain.server_usd_per_1m[0]
    assert m.server_busy_s[0] == plain.server_busy_s[0]
    assert m.devices_supported[0] <= plain.devices_supported[0]


def _gain(k: int, rtt_s: float, match: float = 0.8, verify_per_token_s: float = 0.004) -> float:
    """Proactive over synchronous goodput for fixed K on a fast server, with the i.i.d. walk:
    P(all K accepted) = a^K (the two-token call), P(reuse) = a^(K + 1)."""
    x = dict(drafted=float(k), tokens=float(f.iid_tokens_per_round(match, k)), step_s=T,
             verify_s=verify_per_token_s * (k + 1))  # fmt: skip
    terms = _terms(rtt_s=rtt_s, up_bit_s=1e12, down_bit_s=1e12)
    plain = evaluate(_one(extra_steps=0.2 * match**k, **x), terms)
    pro = evaluate(_one(reuse=match ** (k + 1), predraft_max=float(k), **x), terms)
    return float(pro.goodput_tok_s[0] / plain.goodput_tok_s[0])


def test_proactive_pays_more_as_rtt_grows_and_less_as_k_grows():
    """With a fast server, a short flight leaves little time to pre-draft; a longer round trip
    lets the draft pre-draft all K. At a fixed long RTT, a longer K is less often reused."""
    gains_by_rtt = [_gain(4, rtt) for rtt in (0.0, 0.02, 0.05)]
    assert gains_by_rtt[0] < gains_by_rtt[1] <= gains_by_rtt[2]
    assert gains_by_rtt[2] > 1.05
    gains_by_k = [_gain(k, 0.2) for k in (4, 8, 12)]
    assert gains_by_k[0] > gains_by_k[1] > gains_by_k[2]


def test_reuse_probability_is_the_walks_or_the_chain_rule():
    from configspec.analytic.inputs import reuse_probability
    from tests.builders import iid_cell

    cell = iid_cell("d", "Q4_K_M", 0.8, k_max=8)
    stats = cell.fixed_k[3]  # K = 4, written without a reuse rate (an older profile)
    assert reuse_probability(cell, stats) == pytest.approx(0.8**5)  # first K + 1 positions
    recorded = stats.model_copy(update={"reuse_per_round": 0.21})
    assert reuse_probability(cell, recorded) == 0.21


def test_the_space_has_a_proactive_row_per_fixed_k_where_the_device_can_run_it():
    from configspec.analytic.scenario import Scenario
    from configspec.search.space import build_space
    from tests.builders import (
        alignment_profile,
        draft_cell,
        drafting_profile,
        iid_cell,
        verification_profile,
    )

    profiles = (drafting_profile([draft_cell("d", "Q4_K_M", {16: 0.01, 512: 0.012}, 6.0)]),
                alignment_profile([iid_cell("d", "Q4_K_M", 0.8, k_max=4, taus=(0.5,))]),
                verification_profile(k_max=8))  # fmt: skip
    space = build_space(*profiles, Scenario())
    pro = space.overlap == "proactive"
    # K = 1..4 twice, one threshold once, the target alone on the server
    assert pro.sum() == 4 and (~pro).sum() == 6
    assert [p.label for p in space.policy[pro]] == ["K=1", "K=2", "K=3", "K=4"]
    assert list(space.inputs.predraft_max[pro]) == [1, 2, 3, 4]
    assert space.inputs.reuse[pro] == pytest.approx([0.8**2, 0.8**3, 0.8**4, 0.8**5])
    assert not space.inputs.predraft_max[~pro].any() and not space.inputs.reuse[~pro].any()
    synchronous = Scenario.model_validate({"default_edge": {"overlaps": ["none"]}})
    assert set(build_space(*profiles, synchronous).overlap) == {"none"}
    per_device = Scenario.model_validate({"edge_devices": {"edge-a": {"overlaps": ["none"]}}})
    assert set(build_space(*profiles, per_device).overlap) == {"none"}
