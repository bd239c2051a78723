"""Cell matching and the per-kind rules, on hand-built profiles (tests/builders.py)."""

from __future__ import annotations

import pytest

from configspec.compare.alignment import compare_alignment
from configspec.compare.drafting import compare_drafting
from configspec.compare.result import Thresholds
from configspec.compare.verification import compare_verification
from tests import builders as b

T = Thresholds()


def _statuses(result) -> dict[str, str]:
    return {row.metric: row.status for row in result.rows}


def test_drafting_noise_passes_and_a_slowdown_fails():
    base = b.drafting_profile([b.noisy_draft_cell(30, seed=1)])
    honest = compare_drafting(base, b.drafting_profile([b.noisy_draft_cell(30, seed=2)]), T)
    assert honest.exit_code == 0 and honest.compared == 2
    assert set(_statuses(honest).values()) == {"pass"}
    slow = compare_drafting(base, b.drafting_profile([b.noisy_draft_cell(21, seed=2)]), T)
    assert slow.exit_code == 1
    assert set(_statuses(slow).values()) == {"regression"}
    fast = compare_drafting(base, b.drafting_profile([b.noisy_draft_cell(40, seed=2)]), T)
    assert fast.exit_code == 0 and set(_statuses(fast).values()) == {"improved"}


@pytest.mark.parametrize(
    "changed",
    [dict(device="other"), dict(threads=4), dict(quant="Q8_0"), dict(sha="cc")],
)
def test_drafting_cells_match_on_device_hash_quant_and_threads(changed):
    cell_args = {k: v for k, v in changed.items() if k in ("quant", "sha")}
    profile_args = {k: v for k, v in changed.items() if k in ("device", "threads")}
    base = b.drafting_profile([b.noisy_draft_cell(30, seed=1)])
    cur = b.drafting_profile([b.noisy_draft_cell(10, seed=2, **cell_args)], **profile_args)
    result = compare_drafting(base, cur, T)
    assert result.compared == 0  # a 3x slower cell elsewhere is not compared
    assert sorted(r.status for r in result.rows) == ["only_baseline", "only_current"]


def test_drafting_unmatched_cells_are_reported_beside_matched_ones():
    base = b.drafting_profile(
        [b.noisy_draft_cell(30, seed=1), b.noisy_draft_cell(40, seed=3, quant="Q2_K")]
    )
    cur = b.drafting_profile(
        [b.noisy_draft_cell(30, seed=2), b.noisy_draft_cell(25, seed=4, quant="Q8_0")]
    )
    result = compare_drafting(base, cur, T)
    assert result.exit_code == 0 and result.compared == 2
    assert result.count("only_baseline") == 1 and result.count("only_current") == 1
    assert any("Q2_K" in r.cell for r in result.rows if r.status == "only_baseline")


def test_energy_is_gated_only_when_measured():
    estimated = compare_drafting(b.drafting_profile([b.noisy_draft_cell(30, seed=1)]),
                                 b.drafting_profile([b.noisy_draft_cell(30, seed=2)]), T)  # fmt: skip
    assert not any("energy" in r.metric for r in estimated.rows)
    assert any("estimated" in note for note in estimated.notes)
    measured = compare_drafting(
        b.drafting_profile([b.noisy_draft_cell(30, seed=1, power_source="measured:rapl")]),
        b.drafting_profile([b.noisy_draft_cell(21, seed=2, power_source="measured:rapl")]), T,
    )  # fmt: skip
    assert _statuses(measured)["energy J/token @ctx 16"] == "regression"


def test_environment_differences_are_noted():
    base = b.drafting_profile([b.noisy_draft_cell(30, seed=1)])
    cur = b.drafting_profile([b.noisy_draft_cell(30, seed=2)])
    cur.environment.backend_version = "2.0"
    notes = compare_drafting(base, cur, T).notes
    assert any("backend_version differs" in n and "'2.0'" in n for n in notes)


def test_speed_on_another_cpu_is_shown_but_not_gated():
    base = b.drafting_profile([b.noisy_draft_cell(30, seed=1)])
    slow = b.drafting_profile([b.noisy_draft_cell(21, seed=2)])
    slow.environment.cpu_model = "Intel(R) Xeon(R) Processor"
    result = compare_drafting(base, slow, T)
    assert set(_statuses(result).values()) == {"info"}
    assert result.exit_code == 0 and result.compared == 0 and result.matched == 2
    assert any("speed not gated" in n and "Xeon" in n for n in result.notes)
    verification = b.noisy_verification_profile(0.05, seed=1)
    slower = b.noisy_verification_profile(0.08, seed=2)
    slower.environment.cpu_model = "Intel(R) Xeon(R) Processor"
    assert set(_statuses(compare_verification(verification, slower, T)).values()) == {"info"}
    slower.environment.cpu_model = verification.environment.cpu_model  # same CPU: it gates
    assert compare_verification(verification, slower, T).exit_code == 1


def test_verification_latency_rise_fails_and_missing_points_are_reported():
    base = b.noisy_verification_profile(0.05, seed=1)
    assert compare_verification(base, b.noisy_verification_profile(0.05, seed=9), T).exit_code == 0
    slow = compare_verification(
        base, b.noisy_verification_profile(0.065, seed=9), T
    )  # +30 % latency
    assert slow.exit_code == 1 and slow.count("regression") == 3
    fewer = compare_verification(base, b.noisy_verification_profile(0.05, seed=9, ks=(0, 1)), T)
    assert fewer.exit_code == 0 and fewer.count("only_baseline") == 1


def test_verification_of_another_target_is_not_compared():
    cur = b.noisy_verification_profile(0.05, seed=9)
    cur.target_sha256 = "other"
    result = compare_verification(b.noisy_verification_profile(0.05, seed=1), cur, T)
    assert result.compared == 0 and result.count("only_current") == 1


def test_alignment_greedy_same_models_and_backend_must_match_exactly():
    base = b.alignment_profile([b.gate_alignment_cell(0.8)])
    same = compare_alignment(base, b.alignment_profile([b.gate_alignment_cell(0.8)]), T)
    assert same.exit_code == 0 and {r.rule for r in same.rows} == {"exact"}
    perturbed = b.alignment_profile([b.gate_alignment_cell(0.8)])
    perturbed.cells[0].acceptance_by_position[2] += 1e-9  # one figure, far below any tolerance
    result = compare_alignment(base, perturbed, T)
    assert result.exit_code == 1
    failed = [r for r in result.rows if r.status == "regression"]
    assert len(failed) == 1 and "acceptance@3" in failed[0].note


def test_alignment_exact_rule_fails_an_improvement_too():
    better = b.alignment_profile([b.gate_alignment_cell(0.8)])
    better.cells[0].fixed_k[1].tokens_per_round += 0.5
    result = compare_alignment(b.alignment_profile([b.gate_alignment_cell(0.8)]), better, T)
    assert result.exit_code == 1
    assert _statuses(result)["tokens/round K=2"] == "regression"


def test_alignment_tolerance_rule_when_the_backend_changed():
    base = b.alignment_profile([b.gate_alignment_cell(0.80)])
    near = compare_alignment(base, b.alignment_profile([b.gate_alignment_cell(0.795)], "2.0"), T)
    assert near.exit_code == 0
    assert {r.rule for r in near.rows if r.status != "info"} == {"tolerance"}
    worse = compare_alignment(base, b.alignment_profile([b.gate_alignment_cell(0.70)], "2.0"), T)
    assert worse.exit_code == 1
    assert _statuses(worse)["tokens/round K=1"] == "regression"  # 1.8 -> 1.7: -5.6 %


def test_alignment_sampled_mode_uses_the_tolerance():
    cell = lambda a: b.gate_alignment_cell(a, mode="sampled", temperature=0.7)  # noqa: E731
    base = b.alignment_profile([cell(0.80)])
    result = compare_alignment(base, b.alignment_profile([cell(0.799)]), T)
    assert result.exit_code == 0 and "exact" not in {r.rule for r in result.rows}


def test_alignment_cells_of_other_models_are_not_compared():
    other = b.gate_alignment_cell(0.8)
    other.target_sha256 = "zz"
    result = compare_alignment(b.alignment_profile([b.gate_alignment_cell(0.8)]),
                               b.alignment_profile([other]), T)  # fmt: skip
    assert result.compared == 0
    assert sorted(r.status for r in result.rows) == ["only_baseline", "only_current"]
