"""Proactive drafting on the edge against configspec's server over real gRPC on loopback (fake
models): lossless greedy output, the reuse and discard paths, the e2e profile's overlap summary
and drafting energy, and bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from configspec.errors import ConfigspecError
from configspec.profiles.environment import Environment
from configspec.profiles.serving import E2EProfile, EdgeSettings, NetworkSettings, PromptRun
from configspec.profiles.summary import Summary
from configspec.serving.edge import EdgeOptions, _check_options, round_sample, summarise
from configspec.serving.overlap import find_draft_power
from configspec.serving.relay import LinkShape
from configspec.speculative.decoder import DecodeConfig, SpeculativeDecoder, target_only
from tests.conftest import ROOT
from tests.fakes import FakeRunner
from tests.serving.fake_server import FakeServer
from tests.serving.test_serve_edge import PROMPT, V, models, remote

BASELINE = ROOT / "results" / "baselines" / "demo-drafting.json"  # has qwen2.5-coder-0.5b Q4_K_M
DELAY = LinkShape(added_rtt_s=0.02)  # the fake draft pre-drafts K tokens well within it


def run_remote(k: int, overlap: str, n: int = 60):
    draft, target = models()
    with FakeServer(target) as server:
        connection, verifier = remote(server, draft, k, DELAY)
        try:
            result = SpeculativeDecoder(draft, verifier).generate(
                PROMPT, DecodeConfig(k=k, max_new_tokens=n, overlap=overlap)
            )
        finally:
            connection.close()
        rounds_served = len(server.engine.stats.rounds)
    return result, target, rounds_served


@pytest.mark.parametrize("k", [1, 2, 4])
def test_proactive_greedy_over_grpc_equals_the_targets_own_decoding(k):
    result, target, served = run_remote(k, "proactive")
    assert result.tokens == target_only(FakeRunner(target.next_logits, V), PROMPT, 60)
    assert served == len(result.rounds)  # one verification per round, pre-drafts never sent
    hits = [r for r in result.rounds if r.reuse_hit]
    misses = [r for r in result.rounds if r.predrafted and not r.reuse_hit]
    assert hits and misses
    assert all(len(r.predrafted) == k for r in result.rounds[:-3] if r.predrafted)
    for r in result.rounds:
        assert r.net_s >= 0.02 and r.late_s < 0.02  # the fake draft finishes long before
        parts = r.draft_s + r.net_s + r.verify_s + r.late_s + r.other_s
        assert parts == pytest.approx(r.total_s)


def test_proactive_rounds_over_grpc_are_the_synchronous_ones():
    plain, _, _ = run_remote(4, "none")
    pro, _, _ = run_remote(4, "proactive")
    assert pro.tokens == plain.tokens
    assert [(r.drafted, r.accepted) for r in pro.rounds] == [
        (r.drafted, r.accepted) for r in plain.rounds
    ]
    assert all(not r.predrafted and r.carried == 0 for r in plain.rounds)
    carried = sum(r.carried for r in pro.rounds)
    assert carried == sum(len(r.predrafted) - 1 for r in pro.rounds[:-1] if r.reuse_hit)
    # the carried drafts were not drafted again: fewer draft calls before each submit
    assert (
        sum(r.draft_calls for r in pro.rounds) == sum(r.draft_calls for r in plain.rounds) - carried
    )


def e2e_profile(result, overlap: str) -> E2EProfile:
    settings = EdgeSettings(
        server="127.0.0.1:1", target="fake-target", target_file_sha256="0", draft="qwen2.5-coder-0.5b",
        quant="Q4_K_M", file="x", file_sha256="0", k=4, tau=None, mode="greedy", temperature=0.0,
        top_n=None, max_new_tokens=60, threads=1, prompts="p", seed=0,
        network=NetworkSettings(emulation="relay", added_rtt_ms=20, bandwidth_mbit_s=None),
        overlap=overlap,
    )  # fmt: skip
    profile = E2EProfile(environment=Environment.capture("test", 1, "fake", "0"),
                         settings=settings, measured_rtt_s=Summary.of([0.02, 0.021]))  # fmt: skip
    profile.prompts.append(PromptRun(
        id="p0", prompt_tokens=len(PROMPT), tokens=len(result.tokens), ttft_s=0.1,
        decode_s=result.decode_s, text="", rounds=[round_sample(r) for r in result.rounds],
    ))  # fmt: skip
    return profile


def test_the_e2e_profile_counts_reuse_waste_and_their_energy():
    result, _, _ = run_remote(4, "proactive")
    profile = e2e_profile(result, "proactive")
    power = find_draft_power(BASELINE, Path("unused"), "test", "qwen2.5-coder-0.5b", "Q4_K_M")
    summarise(profile, power)
    o, e = profile.overlap, profile.draft_energy
    rounds = result.rounds
    assert o.reuse_hits == sum(r.reuse_hit for r in rounds) > 0
    assert o.rounds_pre_drafting == sum(bool(r.predrafted) for r in rounds)
    assert o.wasted_tokens == sum(len(r.predrafted) for r in rounds if not r.reuse_hit) > 0
    wasted_s = sum(r.predraft_s for r in rounds if not r.reuse_hit)
    assert o.wasted_draft_s == pytest.approx(wasted_s)
    assert e.power_source.startswith("estimated:")  # the baseline's power is the catalog's
    assert e.wasted_draft_j == pytest.approx(e.power_w * wasted_s)
    busy_s = sum(r.draft_s + r.predraft_s for r in rounds)
    assert e.draft_j_per_token == pytest.approx(e.power_w * busy_s / len(result.tokens))
    assert 0 < e.wasted_draft_j_per_token < e.draft_j_per_token
    plain = e2e_profile(run_remote(4, "none")[0], "none")
    summarise(plain, power)
    assert plain.overlap is None and plain.draft_energy.wasted_draft_j == 0


def test_the_drafting_power_is_found_or_refused(tmp_path):
    args = ("edge-1", "qwen2.5-coder-0.5b", "Q4_K_M")
    assert find_draft_power(None, tmp_path, *args) is None  # nothing under results/edge-1/
    (tmp_path / "edge-1").mkdir()
    shutil.copy(BASELINE, tmp_path / "edge-1" / "drafting-20260101-000000.json")
    found = find_draft_power(None, tmp_path, *args)
    assert found is not None and found.at(300)[0] > 0
    with pytest.raises(ConfigspecError, match="has no qwen2.5-coder-0.5b Q2_K cell"):
        find_draft_power(BASELINE, tmp_path, "edge-1", "qwen2.5-coder-0.5b", "Q2_K")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigspecError, match="not a JSON profile"):
        find_draft_power(tmp_path / "bad.json", tmp_path, *args)


@pytest.mark.parametrize(("overlap", "tau", "message"), [
    ("async", None, "--overlap is one of none, proactive"),
    ("proactive", 0.5, "fixed K; drop --tau"),
])  # fmt: skip
def test_bad_overlap_options_are_one_line_errors(overlap, tau, message):
    options = EdgeOptions(models=Path("models.yaml"), server="127.0.0.1:1", draft="d",
                          overlap=overlap, tau=tau)  # fmt: skip
    with pytest.raises(ConfigspecError, match=message):
        _check_options(options)


@pytest.mark.parametrize(("args", "message"), [
    (["--overlap", "async"], "--overlap is one of none, proactive"),
    (["--overlap", "proactive", "--tau", "0.5"], "fixed K; drop --tau"),
    (["--drafting-profile", "no-such-profile.json"], "profile no-such-profile.json not found"),
])  # fmt: skip
def test_the_edge_command_refuses_bad_overlap_input_in_one_line(args, message, tmp_path):
    """Refused before any model is loaded or server asked; nothing is written."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "configspec", "edge", "--server", "127.0.0.1:9", "--out",
         str(tmp_path / "e2e.json"), *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and message in lines[0], done.stderr
    assert not (tmp_path / "e2e.json").exists()
