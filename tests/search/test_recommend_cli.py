"""`configspec recommend` end to end on hand-built profiles (fixtures, not measurements)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from configspec.profiles.io import save_profile
from configspec.profiles.policy import Policy
from configspec.recommend.settings import llama_cpp_flags, vllm_notes, vllm_speculative_config
from tests.builders import (
    alignment_profile,
    draft_cell,
    drafting_profile,
    iid_cell,
    verification_profile,
)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "configspec", *args], cwd=cwd, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """Two drafts x two quants on one device, aligned greedily, a linear-latency server."""
    cells = [draft_cell("small", "Q4_K_M", {16: 0.010, 512: 0.012}, 6.0),
             draft_cell("small", "Q2_K", {16: 0.008, 512: 0.010}, 5.0),
             draft_cell("big", "Q4_K_M", {16: 0.030, 512: 0.034}, 12.0)]  # fmt: skip
    aligned = [iid_cell("small", "Q4_K_M", 0.7, taus=(0.3, 0.6)),
               iid_cell("small", "Q2_K", 0.55, taus=(0.3, 0.6)),
               iid_cell("big", "Q4_K_M", 0.9, taus=(0.3, 0.6))]  # fmt: skip
    out = tmp_path / "results"
    save_profile(drafting_profile(cells, "edge-a"), out / "edge-a" / "drafting-1.json")
    save_profile(alignment_profile(aligned), out / "alignment-1.json")
    save_profile(verification_profile(base_s=0.03, per_token_s=0.002, k_max=8),
                 out / "verification-1.json")  # fmt: skip
    return out


def test_recommend_writes_yaml_and_json_with_ready_settings(results, tmp_path):
    done = run_cli("recommend", "--results", str(results), "--llama-cpp-flags", "old",
                   cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "best goodput" in done.stdout and "Pareto front" in done.stdout  # tables: stdout
    assert "recommendations written" in done.stderr and "best goodput" not in done.stderr
    report = yaml.safe_load((results / "recommendations.yaml").read_text())
    assert report == json.loads((results / "recommendations.json").read_text())
    assert report["schema_version"] == 2
    device = report["devices"][0]
    # 3 cells x (8 fixed K + 2 thresholds + 8 fixed K drafting proactively) + the target alone
    assert device["device"] == "edge-a" and device["space_size"] == 3 * (8 + 2 + 8) + 1
    assert set(device["picks"]) == {"goodput", "cost", "energy", "balanced"}
    pick = device["picks"]["goodput"]
    assert pick["runs"] == "speculative decoding" and pick["summary"].startswith("Speculate")
    for each in device["picks"].values():  # every engine's own best, with its settings
        llama, vllm = each["engines"]["llama.cpp"], each["engines"]["vllm"]
        c = llama["configuration"]
        flags = ["--model-draft", f"/models/{c['draft']}-{c['quant']}.gguf"] if c["draft"] else []
        assert llama["settings"]["flags"][:2] == flags
        c = vllm["configuration"]
        assert c["policy"]["tau"] is None  # vLLM runs a fixed K only
        config = vllm["settings"]["speculative_config"]
        assert (config or {}).get("num_speculative_tokens") == (c["policy"]["k_max"] or None)
    assert any(e["configuration"]["draft"] for p in device["picks"].values()
               for e in p["engines"].values())  # some engine speculates here  # fmt: skip
    assert pick["deploy"]["edge"].startswith("configspec edge --server HOST:50051 --draft small")
    assert pick["vs_target_autoregressive"]["speedup"] == pytest.approx(
        pick["predicted"]["goodput_tok_s"] / device["baselines"][0]["goodput_tok_s"]
    )
    assert device["baselines"][0]["name"] == "tgt Q4_K_M alone on the server (no speculation)"
    assert pick["predicted"]["energy_source"].startswith("estimated")
    assert 1 <= device["pareto_front_size"] <= device["feasible"] == device["space_size"]
    verdict = device["proactive_drafting"]
    gain = verdict["best_proactive_goodput_tok_s"] / verdict["best_synchronous_goodput_tok_s"]
    assert verdict["gain"] == pytest.approx(gain - 1) and verdict["pays"] == (gain > 1)
    assert verdict["best_proactive"].endswith(" proactive")
    assert list(verdict["gain_by_k"]) == [f"K={k}" for k in range(1, 9)]
    assert "proactive drafting pays" in done.stdout or "does not pay" in done.stdout
    assert pick["overlap"] in ("none", "proactive")
    if pick["overlap"] == "proactive":
        assert pick["predicted"]["wasted_draft_j_per_token"] > 0


def test_a_scenario_without_proactive_drafting_searches_synchronous_rounds(results, tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text("default_edge: {overlaps: [none]}\n")
    done = run_cli("recommend", "--results", str(results), "--scenario", str(scenario),
                   cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    device = json.loads((results / "recommendations.json").read_text())["devices"][0]
    assert device["space_size"] == 3 * (8 + 2) + 1 and device["proactive_drafting"] is None
    assert "proactive drafting" not in done.stdout


def test_recommend_json_goes_to_stdout(results, tmp_path):
    done = run_cli("recommend", "--results", str(results), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)  # the whole of stdout is one JSON document
    assert printed == json.loads((results / "recommendations.json").read_text())


def test_impossible_constraint_is_one_line_exit_2(results, tmp_path):
    done = run_cli("recommend", "--results", str(results), "--max-joules-per-token", "1e-6",
                   cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--max-joules-per-token" in lines[0] and "relax" in lines[0]
    assert not (results / "recommendations.yaml").exists()  # never an empty table or file


def test_missing_profiles_are_named_in_one_line(tmp_path):
    (tmp_path / "results").mkdir()
    done = run_cli("recommend", "--results", str(tmp_path / "results"), cwd=tmp_path)
    assert done.returncode == 2
    message = done.stderr.strip()
    assert "\n" not in message
    for kind in ("drafting", "alignment", "verification"):
        assert f"{kind} profile" in message


def test_optuna_method_through_the_cli(results, tmp_path):
    journal = tmp_path / "study.log"
    done = run_cli("recommend", "--results", str(results), "--method", "optuna", "--evaluations", "10",
                   "--storage", str(journal), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert journal.is_file()
    report = json.loads((results / "recommendations.json").read_text())
    assert report["devices"][0]["method"].endswith(" 10 configurations evaluated)")


def test_bad_scenario_is_one_line_exit_2(results, tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text("server: {batch: 4}\n")
    done = run_cli("recommend", "--results", str(results), "--scenario", str(scenario),
                   cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2 and "no batch 4" in done.stderr


def test_llama_cpp_flag_spellings():
    # the target alone; flash attention off as the profiles ran (llama.cpp's default is auto)
    assert llama_cpp_flags("/m/d.gguf", Policy.none(), "new") == ["--flash-attn", "off"]
    assert llama_cpp_flags("/m/d.gguf", Policy.none(), "old") == []
    llama_cpp_flags("/m/d.gguf", Policy.none(), "new").append("--edited-by-the-caller")
    assert llama_cpp_flags("/m/d.gguf", Policy.none(), "new") == ["--flash-attn", "off"]
    new = llama_cpp_flags("/m/d.gguf", Policy.fixed(4), "new")
    assert new == ["--spec-type", "draft-simple", "--spec-draft-model", "/m/d.gguf",
                   "--spec-draft-n-max", "4", "--spec-draft-n-min", "0",
                   "--spec-draft-p-min", "0", "--flash-attn", "off"]  # fmt: skip
    old = llama_cpp_flags("/m/d.gguf", Policy.threshold(16, 0.6), "old")
    assert old == ["--model-draft", "/m/d.gguf", "--draft-max", "16", "--draft-min", "0",
                   "--draft-p-min", "0.6"]  # fmt: skip


def test_vllm_config_and_its_caveats():
    assert vllm_speculative_config("/m/d", Policy.fixed(5)) == {
        "method": "draft_model", "model": "/m/d", "num_speculative_tokens": 5}  # fmt: skip
    assert vllm_speculative_config("/m/d", Policy.none()) is None
    notes = vllm_notes("/m/d.gguf", Policy.threshold(8, 0.5))
    assert any("confidence threshold" in n for n in notes) and any("GGUF" in n for n in notes)


def test_interrupted_profile_is_flagged(results, tmp_path):
    from configspec.profiles.alignment import AlignmentProfile
    from configspec.profiles.io import load_profile

    path = results / "alignment-1.json"
    profile = load_profile(path, AlignmentProfile)
    profile.interrupted = True
    save_profile(profile, path)
    done = run_cli("recommend", "--results", str(results), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads((results / "recommendations.json").read_text())
    assert report["input_warnings"] == [f"{path} was interrupted: its sweep is incomplete"]


def test_profiles_of_different_target_files_are_refused_in_one_line(tmp_path):
    """align ran the target at one quantization, verify-latency at another: the figures would
    mix two models, so recommend refuses (exit 2) and names both files."""
    out = tmp_path / "results"
    cell = iid_cell("small", "Q4_K_M", 0.7, target_sha="a" * 64)
    save_profile(drafting_profile([draft_cell("small", "Q4_K_M", {16: 0.01}, 6.0)]),
                 out / "edge-a" / "drafting-1.json")  # fmt: skip
    save_profile(alignment_profile([cell]), out / "alignment-1.json")
    save_profile(verification_profile(target_sha="b" * 64), out / "verification-1.json")
    done = run_cli("recommend", "--results", str(out), cwd=tmp_path)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "different target files" in lines[0]
    assert "sha256 aaaaaaaaaaaa" in lines[0] and "sha256 bbbbbbbbbbbb" in lines[0]
    assert not (out / "recommendations.yaml").exists()
