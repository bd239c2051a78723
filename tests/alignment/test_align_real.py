"""A real, small alignment run on the demo pair: 2 prompts x 16 new tokens, one quantization."""

from __future__ import annotations

import numpy as np
import pytest

from configspec.alignment.command import AlignOptions, align
from configspec.alignment.sweep import traces_path
from configspec.alignment.traces import unpack_traces
from configspec.alignment.walk import RANK_CAP, greedy_walk, total
from configspec.analytic.formulas import iid_tokens_per_round
from configspec.profiles.alignment import AlignmentProfile, AlignmentSettings
from configspec.profiles.io import load_profile
from configspec.profiles.policy import Policy
from tests.conftest import ROOT

K_MAX = 8


@pytest.fixture(scope="module")
def aligned(demo_registry, test_threads, tmp_path_factory):
    out = tmp_path_factory.mktemp("align") / "alignment-test.json"
    settings = AlignmentSettings(new_tokens=16, temperature=0.7, seed=0, k_max=K_MAX)
    align(AlignOptions(models=ROOT / "models.yaml", drafts=["qwen2.5-coder-0.5b"],
                       quants=["Q4_K_M"], n_prompts=2, threads=test_threads, device="test",
                       out=out, settings=settings))  # fmt: skip
    profile = load_profile(out, AlignmentProfile)
    arrays = np.load(traces_path(out))
    traces = {c.mode: unpack_traces(arrays, c.traces_key, c.prompt_ids) for c in profile.cells}
    return profile, traces


@pytest.mark.real_model
def test_real_run_shapes_and_ranges(aligned):
    profile, traces = aligned
    assert [(c.mode, c.n_prompts) for c in profile.cells] == [("greedy", 2), ("sampled", 2)]
    assert not profile.interrupted
    for cell in profile.cells:
        ts = traces[cell.mode]
        assert cell.prompt_ids == ["code-01", "chat-01"]
        assert cell.n_positions == sum(len(t) for t in ts)
        for t in ts:
            assert 1 <= len(t) <= 16
            assert len(t.match) == len(t.rank) == len(t.confidence) == len(t)
            assert np.all(t.rank[t.match] == 0)  # a match is the draft's top token
            assert np.all((t.rank >= 0) & (t.rank <= RANK_CAP))
            assert np.all((t.confidence > 0) & (t.confidence <= 1.0 + 1e-6))
            assert np.all((t.tokens >= 0) & (t.tokens < 151936))
            if cell.mode == "sampled":
                assert np.all((t.beta >= 0) & (t.beta <= 1))
                assert t.confidence_past_miss is None  # the rollouts are greedy
            else:  # the draft ran on past its wrong tokens (alignment/rollouts.py)
                for past in (t.confidence_past_miss, t.llama_cpp_confidence_past_miss):
                    assert past.shape == (len(t), K_MAX - 1)
                    assert np.all(past[t.match] == 0)
        assert 0.0 <= cell.acceptance_rate <= 1.0
        assert len(cell.acceptance_by_position) == K_MAX
        for stats in [*cell.fixed_k, *cell.threshold]:
            assert 1.0 <= stats.tokens_per_round <= stats.k_max + 1
            assert stats.drafted_per_round <= stats.k_max
        cover = [cell.topk_coverage[k] for k in (1, 2, 4, 8)]
        assert cover == sorted(cover) and 0 <= cover[0] and cover[-1] <= 1


@pytest.mark.real_model
def test_real_run_is_consistent(aligned):
    profile, traces = aligned
    greedy, sampled = profile.cells
    ts = traces["greedy"]
    matches = np.concatenate([t.match for t in ts])
    assert greedy.acceptance_rate == pytest.approx(matches.mean())
    assert greedy.topk_coverage[1] >= matches.mean()  # rank 0 includes ties with the argmax
    for k in (1, 2, 4, 8):
        walk = total(greedy_walk(t.match, k) for t in ts)
        assert greedy.stats(Policy.fixed(k)).tokens_per_round == pytest.approx(
            walk.tokens_per_round
        )
        assert greedy.iid_tokens_per_round[k - 1] == pytest.approx(
            iid_tokens_per_round(greedy.acceptance_rate, k)
        )
    # The draft is a smaller model of the same family: it agrees with the target most of the time.
    assert greedy.acceptance_rate > 0.4 and sampled.acceptance_rate > 0.4
    for stats in sampled.fixed_k:
        low, high = stats.tokens_per_round_ci95
        assert low <= stats.tokens_per_round + 1e-9 and stats.tokens_per_round <= high + 1e-9
    # sampled: the mean of betas is the expected acceptance of the first draft token
    assert sampled.acceptance_by_position[0] == pytest.approx(sampled.acceptance_rate, abs=0.02)
