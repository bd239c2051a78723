"""The sweep on fake runners: files rewritten after every prompt, Ctrl-C keeps finished prompts,
mismatched tokenizers stop it before any work; and the CLI's one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from configspec.alignment import sweep
from configspec.alignment.prompts import load_prompts, select_prompts
from configspec.alignment.summarize import threshold_lengths
from configspec.alignment.sweep import align_target, group_by_target, traces_path
from configspec.alignment.traces import unpack_traces
from configspec.alignment.walk import greedy_walk, walk_with_lengths
from configspec.errors import ConfigspecError
from configspec.profiles.alignment import AlignmentProfile, AlignmentSettings
from configspec.profiles.environment import Environment
from configspec.profiles.io import load_profile
from configspec.profiles.policy import Policy
from configspec.profiling.drafting_sweep import select_cells
from configspec.registry import load_registry
from tests.conftest import ROOT
from tests.fakes import FakeRunner, agreeing_draft, hashed_logits
from tests.test_cli import run_cli

V = 64
OPTS = AlignmentSettings(new_tokens=12, temperature=0.7, k_max=4, tau_grid=[0.3, 0.6],
                         monte_carlo_passes=50)  # fmt: skip


@pytest.fixture
def fake_models(monkeypatch):
    """Every target path opens a fake target; every draft path a fake draft (or `draft_kind`)."""
    target_fn = hashed_logits(1, V, peak=2.0)
    made: dict[str, object] = {"draft_kind": "same"}

    def open_runner(backend, path, threads, n_ctx=2048, **kwargs):
        if "1.5b" in str(path) and "as-draft" not in str(path):
            return FakeRunner(target_fn, V, stops=frozenset({0}))
        if made["draft_kind"] == "other-tokenizer":
            return FakeRunner(target_fn, V + 1000)
        return FakeRunner(agreeing_draft(target_fn, 2, V, agree_every=3, peak=3.0), V)

    monkeypatch.setattr(sweep, "open_runner", open_runner)
    monkeypatch.setattr(sweep, "model_file", lambda model, quant: Path(f"/{model.name}-{quant}"))
    monkeypatch.setattr(sweep, "model_sha256", lambda path: "0" * 64)
    return made


def _profile() -> AlignmentProfile:
    return AlignmentProfile(
        environment=Environment.capture("test", 1, "fake", "0"),
        settings=AlignmentSettings(
            prompts_file="x",
            n_prompts=3,
            new_tokens=12,
            temperature=0.7,
            seed=0,
            k_max=4,
            tau_grid=[0.3, 0.6],
        ),
    )


def _group():
    registry = load_registry(ROOT / "models.yaml")
    return group_by_target(registry, select_cells(registry, ["qwen2.5-coder-0.5b"], ["Q4_K_M"]))[0]


def test_sweep_writes_cells_and_traces(fake_models, tmp_path):
    target, cells = _group()
    prompts = select_prompts(load_prompts(), 3)
    out = tmp_path / "alignment-x.json"
    profile = _profile()
    align_target(target, cells, prompts, OPTS, 2, profile, out)
    saved = load_profile(out, AlignmentProfile)
    assert [(c.mode, c.n_prompts) for c in saved.cells] == [("greedy", 3), ("sampled", 3)]
    assert traces_path(out).is_file()
    arrays = np.load(traces_path(out))
    for cell in saved.cells:
        assert cell.traces_file == traces_path(out).name
        traces = unpack_traces(arrays, cell.traces_key, cell.prompt_ids)
        assert sum(len(t) for t in traces) == cell.n_positions
        assert all(1 <= len(t) <= 12 for t in traces)
        if cell.mode == "greedy":
            rounds = sum(greedy_walk(t.match, 2).rounds for t in traces)
            assert cell.stats(Policy.fixed(2)).rounds == rounds
            # rollouts past the wrong tokens, read by the llama.cpp threshold walk
            assert all(t.llama_cpp_confidence_past_miss.shape == (len(t), 3) for t in traces)
            assert any(t.llama_cpp_confidence_past_miss.any() for t in traces)
            for stats, llama_cpp in ((cell.threshold[0], False),
                                     (cell.llama_cpp_threshold[0], True)):  # fmt: skip
                drafted = sum(
                    walk_with_lengths(t.match, threshold_lengths(t, 4, 0.3, llama_cpp)).drafted
                    for t in traces
                )
                assert stats.tau == 0.3
                assert stats.drafted_per_round * stats.rounds == pytest.approx(drafted)
        else:
            assert all(t.beta is not None and t.confidence_past_miss is None for t in traces)
        assert [s.k_max for s in cell.fixed_k] == [1, 2, 3, 4]
        assert [s.tau for s in cell.threshold] == [0.3, 0.6]


def test_ctrl_c_keeps_the_finished_prompts(fake_models, tmp_path):
    target, cells = _group()
    prompts = select_prompts(load_prompts(), 3)
    out = tmp_path / "alignment-x.json"
    finished: list[str] = []

    def on_prompt(prompt_id: str) -> None:
        finished.append(prompt_id)
        if len(finished) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        align_target(target, cells, prompts, OPTS, 2, _profile(), out, on_prompt=on_prompt)
    saved = load_profile(out, AlignmentProfile)
    assert saved.interrupted
    assert all(c.prompt_ids == finished for c in saved.cells)
    arrays = np.load(traces_path(out))
    assert len(unpack_traces(arrays, saved.cells[0].traces_key, finished)) == 2


def test_mismatched_tokenizer_stops_before_any_work(fake_models, tmp_path):
    fake_models["draft_kind"] = "other-tokenizer"
    target, cells = _group()
    out = tmp_path / "alignment-x.json"
    with pytest.raises(ConfigspecError, match="do not share a tokenizer"):
        align_target(target, cells, load_prompts()[:1], OPTS, 2, _profile(), out)
    assert not out.exists()


def _one_line_error(result) -> str:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "configspec: error:" in lines[0], result.stderr
    return lines[0]


def test_cli_help_and_one_line_errors(tmp_path):
    result = run_cli("align", "--help")
    assert result.returncode == 0 and "--new-tokens" in result.stdout
    bad = tmp_path / "p.jsonl"
    bad.write_text("{not json\n")
    assert "p.jsonl:1: not valid JSON" in _one_line_error(run_cli("align", "--prompts", str(bad)))
    assert "--taus" in _one_line_error(run_cli("align", "--taus", "0.5,2"))
    assert "not-a-model" in _one_line_error(run_cli("align", "--drafts", "not-a-model"))


def test_runner_without_chat_template_is_a_clear_error():
    from configspec.alignment.sweep import chat_tokens
    from configspec.runners.base import Runner

    class NoTemplate(FakeRunner):
        chat_prompt = Runner.chat_prompt  # the interface's default: not implemented

    with pytest.raises(ConfigspecError, match="cannot apply a chat template"):
        chat_tokens(NoTemplate(lambda prefix: np.zeros(V), V), load_prompts()[0])
