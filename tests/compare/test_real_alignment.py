"""The exact rule on the committed, real alignment summary of the demo pair (greedy).

results/baselines/demo-alignment.json was measured with `configspec align` (docs/compare.md);
here it is compared with itself and with copies perturbed by the smallest change a trace can
make: one position's match flipped.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from configspec.compare.command import compare_files
from configspec.compare.result import Thresholds
from tests.conftest import ROOT

BASELINE = ROOT / "results" / "baselines" / "demo-alignment.json"


def _write(tmp_path: Path, data: dict, name: str) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def summary() -> dict:
    data = json.loads(BASELINE.read_text())
    cell = data["cells"][0]
    assert data["kind"] == "alignment" and cell["mode"] == "greedy" and cell["n_positions"] > 0
    return data


def test_the_real_summary_matches_itself_exactly(summary, tmp_path):
    result = compare_files(BASELINE, _write(tmp_path, summary, "same.json"), Thresholds())
    assert result.exit_code == 0 and result.compared > 0
    assert {r.rule for r in result.rows} == {"exact"}


def test_one_flipped_match_fails_the_exact_rule(summary, tmp_path):
    cell = summary["cells"][0]
    cell["acceptance_rate"] -= 1 / cell["n_positions"]  # one accepted position fewer
    result = compare_files(BASELINE, _write(tmp_path, summary, "flipped.json"), Thresholds())
    assert result.exit_code == 1
    failed = [r for r in result.rows if r.status == "regression"]
    assert len(failed) == 1 and failed[0].note == "1 changed, first acceptance_rate"


def test_a_drop_in_tokens_per_round_fails_even_within_the_tolerance(summary, tmp_path):
    k4 = next(p for p in summary["cells"][0]["fixed_k"] if p["k_max"] == 4 and p["tau"] is None)
    k4["tokens_per_round"] *= 0.99  # inside the 3% tolerance, but greedy must not change
    perturbed = _write(tmp_path, summary, "k4.json")
    result = compare_files(BASELINE, perturbed, Thresholds())
    assert result.exit_code == 1
    assert {r.metric for r in result.rows if r.status == "regression"} >= {"tokens/round K=4"}


def test_on_another_backend_version_the_tolerance_applies(summary, tmp_path):
    summary["environment"]["backend_version"] = "0.0.0-other"
    k4 = next(p for p in summary["cells"][0]["fixed_k"] if p["k_max"] == 4 and p["tau"] is None)
    k4["tokens_per_round"] *= 0.99
    assert (
        compare_files(BASELINE, _write(tmp_path, summary, "near.json"), Thresholds()).exit_code == 0
    )
    k4["tokens_per_round"] *= 0.9
    assert (
        compare_files(BASELINE, _write(tmp_path, summary, "far.json"), Thresholds()).exit_code == 1
    )
