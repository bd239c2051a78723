"""`configspec fleet` and `configspec recommend --fleet` from the command line: the joint pick
and its files, and every bad input as one line with exit 2 and nothing written. The profiles
are fixtures; the tokenizers are the demo pair's (their vocabularies only: a few seconds)."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.fleet.profiles import DRAFT, write_fleet, write_inputs
from tests.test_cli import run_cli

pytestmark = pytest.mark.real_model  # reads the demo models' vocabularies


def one_line_error(result) -> str:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "configspec: error:" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


GROUPS = [
    {"name": "fast", "count": 3, "network": {"rtt_ms": 20}, "itl_target_ms": 400},
    {"name": "slow", "count": 2, "draft": DRAFT, "quant": "Q8_0", "policy": {"k_max": 2}},
]


def test_recommend_fleet_gives_a_joint_pick_and_fleet_files(tmp_path):
    files = write_inputs(tmp_path / "results")
    fleet = write_fleet(tmp_path / "fleet.yaml", files, GROUPS)
    out = tmp_path / "out"
    result = run_cli("recommend", "--fleet", str(fleet), "--out-dir", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "fleet-recommendations.json").read_text())
    joint, alone = report["joint"], report["per_device"]
    assert [g["group"] for g in joint["groups"]] == ["fast", "slow"]
    assert joint["server"]["max_batch"] in (1, 4)
    assert report["method"] == "exact" and report["evaluated"] > 1
    # MVA screens, the simulation decides; MVA's own pick is kept beside it
    assert report["predicted_by"].startswith("simulation (the 20 best")
    assert {g["group"] for g in report["mva_pick"]["groups"]} == {"fast", "slow"}
    fast = joint["groups"][0]["predicted"]
    assert fast["mean_inter_token_latency_s"] <= 0.4
    # the per-device picks are a candidate too: the joint pick never predicts less
    assert joint["predicted"]["verified_tokens_per_s"] >= alone["predicted"][
        "verified_tokens_per_s"] or not report["per_device_meets_targets"]  # fmt: skip
    assert report["joint_is_per_device"] == (joint["groups"] == alone["groups"])
    assert {r["group"] for r in report["scaling"]} == {"fast", "slow"}
    assert all(r["server_only_tok_s"] > 0 for r in report["scaling"])
    for name in ("fleet-joint.yaml", "fleet-per-device.yaml"):
        ready = yaml.safe_load((out / name).read_text())
        assert all(g["draft"] and g["quant"] and g["policy"]["k_max"] for g in ready["groups"])
    assert "joint pick vs per-device picks" in result.stdout  # the table; logs on stderr
    # 5 devices' sessions hold more cells than the fixture's contexts (128, 256) reach
    (warning,) = report["warnings"]
    assert "reaches context 256" in warning and "re-run verify-latency" in warning
    assert "priced low" in result.stderr.replace("\n", " ")
    as_json = run_cli("recommend", "--fleet", str(fleet), "--out-dir", str(out), "--json")
    assert json.loads(as_json.stdout)["joint"] == joint
    mva_only = run_cli("recommend", "--fleet", str(fleet), "--out-dir", str(out), "--json",
                       "--confirm", "0")  # fmt: skip
    assert json.loads(mva_only.stdout)["predicted_by"] == "mva"
    assert json.loads(mva_only.stdout)["joint"]["groups"] == report["mva_pick"]["groups"]


def test_an_impossible_latency_target_names_the_best_achievable(tmp_path):
    files = write_inputs(tmp_path / "results")
    groups = [{**GROUPS[0], "itl_target_ms": 1}]
    fleet = write_fleet(tmp_path / "fleet.yaml", files, groups)
    line = one_line_error(run_cli("recommend", "--fleet", str(fleet), "--out-dir",
                                  str(tmp_path / "out")))  # fmt: skip
    assert "group fast" in line and "best achievable" in line and "ms" in line
    assert not (tmp_path / "out").exists()


def test_a_missing_profile_is_one_line(tmp_path):
    files = write_inputs(tmp_path / "results")
    files["drafting"] = tmp_path / "nope.json"
    fleet = write_fleet(tmp_path / "fleet.yaml", files, GROUPS[1:])
    line = one_line_error(run_cli("recommend", "--fleet", str(fleet), "--out-dir",
                                  str(tmp_path / "out")))  # fmt: skip
    assert "nope.json not found" in line


def test_a_draft_of_another_family_is_refused_before_any_model_opens(tmp_path):
    files = write_inputs(tmp_path / "results")
    models = tmp_path / "models.yaml"
    registry = yaml.safe_load(open("models.yaml"))
    registry["models"] += [
        {"name": "other-target", "role": "target", "family": "llama3", "source": {"path": "/x.gguf"},
         "quant": "Q4_K_M", "quantizations": ["Q4_K_M"]},
        {"name": "other-draft", "role": "draft", "target": "other-target", "family": "llama3",
         "source": {"path": "/y.gguf"}, "quant": "Q4_K_M", "quantizations": ["Q4_K_M"]},
    ]  # fmt: skip
    models.write_text(yaml.safe_dump(registry))
    fleet = write_fleet(tmp_path / "fleet.yaml", files, [{**GROUPS[1], "draft": "other-draft"}])
    line = one_line_error(run_cli("fleet", "--fleet", str(fleet), "--models", str(models),
                                  "--server", "127.0.0.1:9"))  # fmt: skip
    assert "no verification server" not in line  # the family check needs no server
    assert "other-draft" in line and "'llama3'" in line and "'qwen2.5'" in line


def test_no_server_is_one_line_and_no_profile(tmp_path):
    files = write_inputs(tmp_path / "results")
    fleet = write_fleet(tmp_path / "fleet.yaml", files, GROUPS[1:])
    out = tmp_path / "fleet-profile.json"
    line = one_line_error(run_cli("fleet", "--fleet", str(fleet), "--server", "127.0.0.1:9",
                                  "--out", str(out)))  # fmt: skip
    assert "no verification server answers at 127.0.0.1:9" in line
    assert not out.exists()


def test_a_fleet_without_picks_cannot_run(tmp_path):
    files = write_inputs(tmp_path / "results")
    fleet = write_fleet(tmp_path / "fleet.yaml", files, GROUPS)
    line = one_line_error(run_cli("fleet", "--fleet", str(fleet)))
    assert "fast" in line and "recommend --fleet" in line


def test_a_malformed_fleet_file_is_one_line(tmp_path):
    bad = tmp_path / "fleet.yaml"
    bad.write_text("schema_version: 1\nalignment: a.json\ngroups:\n  - name: x\n    count: -1\n")
    line = one_line_error(run_cli("fleet", "--fleet", str(bad)))
    assert "groups.0" in line
