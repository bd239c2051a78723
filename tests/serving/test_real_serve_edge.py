"""`configspec serve` and `configspec edge` as real processes on the demo pair, on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.real_model

NEW_TOKENS = 24
# A batched verification call and single-token decoding can pick different argmax tokens where
# two logits are nearly equal (different kernels); the greedy check allows a divergence only
# at such a near-tie (docs/serving.md, "Losslessness").
NEAR_TIE_LOGITS = 0.5


def start_server(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    port_file = tmp_path / "port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "configspec", "serve", "--port", "0", "--port-file", str(port_file),
         "--threads", "1", "--duration-s", "600", "--log-every-s", "0",
         "--out", str(tmp_path / "serving.json"), *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while not port_file.exists() or not port_file.read_text().strip():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"configspec serve did not start: {proc.communicate()[0]}")
        time.sleep(0.2)
    return proc, f"127.0.0.1:{port_file.read_text().strip()}"


def edge(address: str, out: Path, *extra: str, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "configspec", "edge", "--server", address, "--threads", "1",
         "--out", str(out), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # by process id
    try:
        return proc.communicate(timeout=60)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()[0]


def serve_and_edge(tmp: Path, *edge_args: str) -> tuple[dict, dict, str, str]:
    """A server for two sessions and one edge run of two prompts against it: (e2e profile,
    serving profile, the edge's stderr, the server's log)."""
    proc, address = start_server(tmp, "--stop-after-sessions", "2")
    try:
        result = edge(address, tmp / "e2e.json", "--n-prompts", "2", "--max-new-tokens",
                      str(NEW_TOKENS), *edge_args)  # fmt: skip
    finally:
        server_log = stop(proc)
    assert result.returncode == 0, result.stderr + server_log
    return json.loads((tmp / "e2e.json").read_text()), json.loads(
        (tmp / "serving.json").read_text()), result.stderr, server_log  # fmt: skip


@pytest.fixture(scope="module")
def greedy_run(tmp_path_factory):
    return serve_and_edge(tmp_path_factory.mktemp("serve"), "--k", "4")


@pytest.fixture(scope="module")
def greedy_reference(demo_target_path):
    """check(e2e) -> near-tie flips: each prompt's output must equal the target's own greedy
    decoding, but for a divergence at a near-tie. The references are decoded once per prompt
    (one thread: robust when other jobs share the CPU) and shared by the tests."""
    from configspec.runners.llama_cpp import LlamaCppRunner
    from configspec.speculative.decoder import target_only

    target = LlamaCppRunner(demo_target_path, threads=1, n_ctx=1024)
    references: dict[str, list[int]] = {}

    def check(e2e: dict) -> int:
        flips = 0
        for run in e2e["prompts"]:
            prompt = _prompt_tokens(target, run["id"])
            assert len(prompt) == run["prompt_tokens"]
            if run["id"] not in references:
                references[run["id"]] = target_only(target, prompt, NEW_TOKENS,
                                                    stop_tokens=target.stop_tokens())  # fmt: skip
            out, reference = run["output_ids"], references[run["id"]]
            if out == reference:
                continue
            i = next(i for i, (a, b) in enumerate(zip(out, reference, strict=False)) if a != b)
            target.reset()
            logits = target.forward(prompt + reference[:i])
            gap = float(logits[reference[i]] - logits[out[i]])
            assert gap <= NEAR_TIE_LOGITS, f"{run['id']}: diverged at {i} with a logit gap {gap}"
            flips += 1
        return flips

    yield check
    target.close()


def test_greedy_output_is_the_targets_own_greedy_output(greedy_run, greedy_reference):
    """Both processes real; the reference is the target decoding alone, token by token."""
    e2e, _, _, _ = greedy_run
    flips = greedy_reference(e2e)
    print(f"greedy: {len(e2e['prompts'])} prompts, {flips} near-tie argmax flip(s)")


@pytest.fixture(scope="module")
def proactive_run(tmp_path_factory):
    e2e, _, stderr, _ = serve_and_edge(
        tmp_path_factory.mktemp("serve-proactive"), "--k", "2", "--overlap", "proactive",
        "--drafting-profile", str(ROOT / "results/baselines/demo-drafting.json"),
    )  # fmt: skip
    return e2e, stderr


def test_proactive_drafting_is_lossless_and_takes_both_paths(proactive_run, greedy_reference):
    """The real draft pre-drafts while the real server verifies: some rounds reuse the
    pre-drafts (every draft accepted, the bonus guessed), others discard them; the output is
    still the target's own greedy output."""
    e2e, stderr = proactive_run
    flips = greedy_reference(e2e)
    rounds = [r for p in e2e["prompts"] for r in p["rounds"]]
    hits = [r for r in rounds if r["reuse_hit"]]
    assert hits and any(r["wasted"] for r in rounds)
    assert all(r["accepted"] == r["drafted"] == 2 for r in hits)
    assert e2e["overlap"]["reuse_hits"] == len(hits)
    assert e2e["overlap"]["carried_tokens"] == sum(r["carried"] for r in rounds) > 0
    energy = e2e["draft_energy"]
    assert energy["power_source"].startswith(("measured:", "estimated:"))
    assert 0 < energy["wasted_draft_j_per_token"] < energy["draft_j_per_token"]
    assert "proactive drafting:" in stderr and "drafting energy:" in stderr
    print(f"proactive: {len(hits)} of {len(rounds)} rounds reused, {flips} near-tie flip(s)")


def _prompt_tokens(runner, prompt_id: str) -> list[int]:
    from configspec.alignment.prompts import load_prompts

    (prompt,) = [p for p in load_prompts() if p.id == prompt_id]
    return runner.tokenize(runner.chat_prompt([m.model_dump() for m in prompt.messages]))


def test_the_e2e_profile_has_its_figures(greedy_run):
    e2e, _, stderr, _ = greedy_run
    assert e2e["kind"] == "e2e" and not e2e["interrupted"]
    rounds = [r for p in e2e["prompts"] for r in p["rounds"]]
    assert e2e["goodput_tok_s"] > 0 and 1 <= e2e["tokens_per_round"] <= 5
    assert set(e2e["inter_token_latency_s"]) == {"p50", "p90", "p99"}
    assert e2e["measured_rtt_s"]["n"] >= 5
    for prompt in e2e["prompts"]:
        generated = 0
        for r in prompt["rounds"]:  # K = 4, less where the text ends (the target adds one)
            assert r["drafted"] == min(4, NEW_TOKENS - generated - 1)
            generated += r["emitted"]
    for r in rounds:
        assert 0 <= r["accepted"] <= r["drafted"]
        assert r["verify_s"] > 0 and r["server_s"] >= r["verify_s"] and r["draft_s"] > 0
        assert r["bytes_up"] > 4 * 5 and r["bytes_down"] > 4  # at least the ids themselves
    assert "goodput" in stderr


def test_the_serving_profile_counts_what_the_edge_saw(greedy_run):
    e2e, serving, _, server_log = greedy_run
    edge_rounds = sum(len(p["rounds"]) for p in e2e["prompts"])
    assert serving["kind"] == "serving" and serving["stopped_by"] == "sessions"
    assert serving["rounds"] == edge_rounds
    assert serving["verified_tokens"] == sum(p["tokens"] for p in e2e["prompts"]) or (
        serving["verified_tokens"] >= sum(p["tokens"] for p in e2e["prompts"])
    )  # a round cut short by a stop token verifies tokens the edge does not keep
    assert serving["batch_size_histogram"] == {"1": edge_rounds}
    assert "served 2 session(s)" in server_log


def test_no_server_is_one_line_exit_2(tmp_path):
    result = edge("127.0.0.1:9", tmp_path / "e2e.json", "--n-prompts", "1", timeout=120)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "no verification server answers at 127.0.0.1:9" in lines[0]
    assert not (tmp_path / "e2e.json").exists()


def test_server_killed_mid_session_keeps_the_measured_rounds(tmp_path):
    proc, address = start_server(tmp_path)
    out = tmp_path / "e2e.json"
    child = subprocess.Popen(
        [sys.executable, "-m", "configspec", "edge", "--server", address, "--threads", "1",
         "--n-prompts", "2", "--max-new-tokens", "64", "--out", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not out.exists() and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.2)  # the first prompt is done and saved
        time.sleep(5.0)  # into the second prompt
        os.kill(proc.pid, signal.SIGKILL)
        _, stderr = child.communicate(timeout=120)
    finally:
        stop(proc)
        if child.poll() is None:
            child.kill()
    assert child.returncode == 2, stderr
    assert "the server went away" in stderr and "marked interrupted" in stderr
    e2e = json.loads(out.read_text())
    assert e2e["interrupted"] is True
    assert any("interrupted during prompt" in w for w in e2e["warnings"])
    assert sum(len(p["rounds"]) for p in e2e["prompts"]) > 0  # the first prompt's, at least
    assert np.isfinite(e2e["goodput_tok_s"])
