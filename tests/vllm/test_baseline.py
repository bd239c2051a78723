"""The server-only baseline's load generator against the fake vLLM: closed loop, per-token
timing, utilisation from the running gauge, lengths replayed from an e2e profile."""

from __future__ import annotations

import pytest

from configspec.errors import ConfigspecError
from configspec.profiles.baseline import BaselineProfile, BaselineSettings
from configspec.profiles.environment import Environment
from configspec.vllm_backend.baseline import (
    BaselineOptions,
    Job,
    jobs_for,
    request_sample,
    run_load,
    summarise,
)  # fmt: skip
from configspec.vllm_backend.client import VllmClient
from tests.fakes import hashed_logits
from tests.vllm.fake_vllm import FakeVllm

V = 40


def test_gaps_split_a_chunk_over_its_tokens_and_ttft_is_the_first_chunk():
    job = Job("p", [1, 2, 3], 5)
    s = request_sample(job, 0, sent=1.0, chunks=[(1.5, 2), (1.7, 1), (2.3, 2)])
    assert s.tokens == 5 and s.ttft_s == pytest.approx(0.5) and s.decode_s == pytest.approx(0.8)
    assert s.token_gaps_s == pytest.approx([0.0, 0.2, 0.3, 0.3])


def test_a_closed_loop_of_two_sessions_streams_every_token():
    with FakeVllm(hashed_logits(1, V, 3.0), V, token_delay_s=0.01) as fake:
        client = VllmClient(fake.url)
        jobs = [Job(str(i), [1, 2, 3 + i], 6) for i in range(5)]
        requests, server, duration = run_load(client, fake.model_id, jobs, 2, False, 0.05)
        assert sorted(r.prompt_id for r in requests) == [str(i) for i in range(5)]
        assert all(r.tokens == 6 and len(r.token_gaps_s) == 5 for r in requests)
        assert {r.session for r in requests} == {0, 1}
        assert fake.generation_tokens == 30 and client.requests == 5
        assert duration > 0.05 * 3  # 3 rounds of 6 tokens at 10 ms at least, two at a time
        assert all(b["stream"] and b["return_token_ids"] for b in fake.bodies)


def test_summary_figures():
    from configspec.profiles.baseline import RequestSample, ServerSample

    profile = BaselineProfile(
        environment=Environment.capture("t", 1, "vllm", "x"),
        settings=BaselineSettings(target="t", target_file_sha256="0", engine="vllm",
                                  engine_version="x", url="u", started_by_configspec=False,
                                  threads=1, sessions=2, prompts="p", n_requests=2,
                                  max_new_tokens=3),
        duration_s=2.0, tokens=0, verified_tokens_per_s=0.0,
        requests=[RequestSample(prompt_id="a", session=0, prompt_tokens=3, tokens=3, sent_s=0,
                                ttft_s=0.5, decode_s=1.0, token_gaps_s=[0.5, 0.5]),
                  RequestSample(prompt_id="b", session=1, prompt_tokens=3, tokens=3, sent_s=0,
                                ttft_s=0.3, decode_s=0.5, token_gaps_s=[0.25, 0.25])],
        server_samples=[ServerSample(t_s=0, running=2, waiting=0),
                        ServerSample(t_s=1, running=1, waiting=0),
                        ServerSample(t_s=2, running=0, waiting=0)],
    )  # fmt: skip
    summarise(profile)
    assert profile.tokens == 6 and profile.verified_tokens_per_s == pytest.approx(3.0)
    assert profile.per_session_tokens_per_s.mean == pytest.approx(3.0)  # (2/1 + 2/0.5) / 2
    assert profile.busy_fraction == pytest.approx(2 / 3) and profile.mean_running == 1.5
    assert profile.inter_token_latency_s["p50"] == pytest.approx(0.375)


def test_lengths_replayed_from_an_e2e_profile(tmp_path):
    from configspec.profiles.io import save_profile
    from configspec.profiles.serving import E2EProfile, EdgeSettings, NetworkSettings, PromptRun
    from configspec.profiles.summary import Summary

    def run(pid: str, n: int) -> PromptRun:
        return PromptRun(id=pid, prompt_tokens=3, tokens=n, ttft_s=0.1, decode_s=1.0, text="",
                         rounds=[])  # fmt: skip

    e2e = E2EProfile(
        environment=Environment.capture("t", 1, "llama_cpp", "x"),
        settings=EdgeSettings(server="s", target="t", target_file_sha256="0", draft="d",
                              quant="Q", file="f", file_sha256="0", k=4, tau=None, mode="greedy",
                              temperature=0.0, top_n=None, max_new_tokens=64, threads=1,
                              prompts="p", seed=0, network=NetworkSettings(
                                  emulation="none", added_rtt_ms=0, bandwidth_mbit_s=None)),
        measured_rtt_s=Summary.of([0.001, 0.002]),
        prompts=[run("a", 7), run("zz", 3), run("b", 0)],
    )  # fmt: skip
    path = save_profile(e2e, tmp_path / "e2e.json")
    ids = {"a": [1], "b": [2]}
    jobs = jobs_for(BaselineOptions(models=tmp_path, lengths_from=path), ids, ["a", "b"])
    assert [(j.prompt_id, j.max_tokens) for j in jobs] == [("a", 7)]  # b generated nothing
    assert [(j.prompt_id, j.max_tokens) for j in jobs_for(BaselineOptions(models=tmp_path), ids,
            ["a", "b"])] == [("a", 64), ("b", 64)]  # fmt: skip
    with pytest.raises(ConfigspecError, match="no finished prompt"):
        jobs_for(BaselineOptions(models=tmp_path, lengths_from=path), {"c": [1]}, ["c"])
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigspecError, match="not a JSON profile"):
        jobs_for(BaselineOptions(models=tmp_path, lengths_from=tmp_path / "bad.json"), ids, ["a"])
