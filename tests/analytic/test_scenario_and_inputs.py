"""The scenario file (defaults, errors, overrides) and the numbers read from profiles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from configspec.analytic.inputs import draft_timing, extra_draft_steps, per_round, verify_curve
from configspec.analytic.scenario import Scenario, load_scenario
from configspec.errors import ConfigspecError
from configspec.profiles.policy import Policy
from tests.builders import draft_cell, iid_cell, verification_profile

ROOT = Path(__file__).resolve().parents[2]


def test_repository_scenario_yaml_is_the_documented_default():
    assert load_scenario(ROOT / "scenario.yaml") == Scenario()


def test_unknown_key_is_one_line_naming_the_place(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("server:\n  price_per_hour: 1\n")
    with pytest.raises(ConfigspecError) as err:
        load_scenario(path)
    message = str(err.value)
    assert "server.price_per_hour" in message and "unknown key" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "text, where",
    [
        ("default_edge:\n  utilisation: 1.5\n", "default_edge.utilisation"),
        ("mode: sampled\n", "needs temperature > 0"),
        ("server: [1, 2\n", "not valid YAML"),
        ("- 1\n", "expected a mapping"),
    ],
)
def test_bad_values_are_refused(tmp_path, text, where):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ConfigspecError, match=where.replace("[", r"\[")):
        load_scenario(path)


def test_missing_explicit_scenario_is_an_error(tmp_path):
    with pytest.raises(ConfigspecError, match="not found"):
        load_scenario(tmp_path / "nope.yaml")


def test_edge_override_is_laid_over_the_default(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("edge_devices:\n  pi:\n    network: {rtt_ms: 40}\n    purchase_usd: 80\n")
    scenario = load_scenario(path)
    pi, other = scenario.edge("pi"), scenario.edge("laptop")
    assert pi.network.rtt_ms == 40 and pi.purchase_usd == 80
    assert pi.network.up_mbit_s == other.network.up_mbit_s == 20  # kept from default_edge
    assert other.network.rtt_ms == 20 and other.purchase_usd == 600


def test_draft_step_time_interpolates_in_context_and_clamps():
    cell = draft_cell("d", "Q4_K_M", {16: 0.02, 512: 0.03}, power_w=8.0)
    # halfway 16..512 is 264: 0.02 + 0.5 x 0.01 = 0.025 s
    assert draft_timing(cell, 264).step_s == pytest.approx(0.025)
    assert draft_timing(cell, 4096).step_s == pytest.approx(0.03)  # clamped, not extrapolated
    assert draft_timing(cell, 0).power_w == pytest.approx(8.0)


def test_verify_latency_interpolates_in_k_and_context_and_extrapolates_in_k():
    # latency = 0.02 + 0.01 x (K + 1): K = 2.5 -> 0.055; K = 12 (past 8) -> 0.15 (linear)
    curve = verify_curve(verification_profile(k_max=8, contexts=(16, 512)), batch=1)
    assert curve.latency(np.array([2.5]), 100)[0] == pytest.approx(0.055)
    assert curve.latency(np.array([12.0]), 100)[0] == pytest.approx(0.15)
    # energy = 100 W x latency
    assert curve.energy(np.array([2.5]), 100)[0] == pytest.approx(5.5)


def test_verify_latency_blends_contexts_linearly():
    slow = verification_profile(base_s=0.02, contexts=(16,))
    fast_points = verification_profile(base_s=0.04, contexts=(512,)).points
    slow.points += fast_points
    curve = verify_curve(slow, batch=1)
    # K = 1 at context 264: halfway between 0.02 + 0.02 = 0.04 and 0.04 + 0.02 = 0.06 -> 0.05
    assert curve.latency(np.array([1.0]), 264)[0] == pytest.approx(0.05)


def test_unprofiled_batch_names_the_profiled_ones():
    with pytest.raises(ConfigspecError, match=r"no batch 4 \(profiled: \[1, 2\]\)"):
        verify_curve(verification_profile(batches=(1, 2)), batch=4)


def test_extra_draft_steps():
    cell = iid_cell("d", "q", a=0.5, k_max=4, taus=(0.5,))
    # fixed K = 3: P(all accepted) = 0.5^3 = 0.125; threshold: the stopping step, 1 per round
    # where the profile did not count the rounds that stopped on a low confidence, else their share
    assert extra_draft_steps(cell, cell.stats(Policy.fixed(3))) == pytest.approx(0.125)
    stats = cell.stats(Policy.threshold(4, 0.5))
    assert (
        extra_draft_steps(cell, stats.model_copy(update={"stopped_early_per_round": None})) == 1.0
    )
    counted = stats.model_copy(update={"stopped_early_per_round": 0.7})
    assert extra_draft_steps(cell, counted) == pytest.approx(0.7)


def test_per_round_averages_over_the_drafts_where_their_shares_are_known():
    def squared(d):
        return np.asarray(d, dtype=float) ** 2

    # row 0: D = 0 or 2 half the time each (mean 1): E[D^2] = 2, not 1^2; row 1: no shares
    out = per_round(squared, np.array([1.0, 3.0]), [[0.5, 0.0, 0.5], None])
    assert out.tolist() == pytest.approx([2.0, 9.0])
