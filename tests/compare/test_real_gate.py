"""The gate on real profiles of the demo draft: honest repeats pass, a genuine slowdown fails.

The slowdown is real: the same model file profiled with 1 thread instead of 2, then relabelled as
the 2-thread setting, so it matches the baseline's cell. Both checks use CI_TOLERANCE, the
tolerance .ci/run uses on shared machines. Measurements assume nothing else saturates the CPU
(as in CI): llama.cpp's threads spin-wait, so an oversubscribed CPU can make 2 threads slower
than 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from configspec.compare.command import compare_files
from configspec.compare.result import Thresholds
from configspec.profiles.drafting import DraftingSettings
from configspec.profiling.profile_command import ProfileOptions, profile_drafts
from tests.conftest import ROOT

CI_TOLERANCE = 0.25  # keep equal to --tolerance in .ci/run
SMALL = dict(repetitions=5, warmup_tokens=8, decode_tokens=32, contexts=[16], prefill_tokens=64)


def _profile(out: Path, threads: int) -> Path:
    settings = DraftingSettings(threads=threads, **SMALL)
    profile_drafts(ProfileOptions(models=ROOT / "models.yaml", drafts=["qwen2.5-coder-0.5b"],
                                  quants=["Q4_K_M"], settings=settings, device="compare-test",
                                  out=out))  # fmt: skip
    return out


@pytest.fixture(scope="module")
def real_profiles(tmp_path_factory, demo_draft_path):
    folder = tmp_path_factory.mktemp("real-gate")
    honest_a = _profile(folder / "a.json", threads=2)
    honest_b = _profile(folder / "b.json", threads=2)
    slow = _profile(folder / "one-thread.json", threads=1)
    relabelled = json.loads(slow.read_text())
    relabelled["settings"]["threads"] = relabelled["environment"]["threads"] = 2
    slow_as_two = folder / "one-thread-as-two.json"
    slow_as_two.write_text(json.dumps(relabelled))
    return honest_a, honest_b, slow_as_two


@pytest.mark.real_model
def test_honest_repeat_profiles_pass(real_profiles, tmp_path):
    """An honest repeat passes the gate. On a 2-vCPU VM the host sometimes places the two vCPUs
    on one physical core's hyperthreads: compute-bound prefill then shifts as a whole profile
    (measured on the Intel Xeon VM, quiet, seconds apart: 178 then 121 tok/s, each within 5%),
    a change of machine, not of software. As a CI re-runs such a gate once, a third profile is
    taken and one honest pair out of the three must pass; a gate that fails honest repeats
    still fails here."""
    honest_a, honest_b, _ = real_profiles
    thresholds = Thresholds(tolerance=CI_TOLERANCE)
    result = compare_files(honest_a, honest_b, thresholds)
    assert result.compared == 2  # decode and prefill of the one cell
    if result.exit_code == 0:
        return
    honest_c = _profile(tmp_path / "c.json", threads=2)
    retries = [compare_files(a, honest_c, thresholds) for a in (honest_a, honest_b)]
    assert any(r.exit_code == 0 for r in retries), [
        [(row.metric, row.ratio, row.p_value) for row in r.rows] for r in (result, *retries)
    ]


@pytest.mark.real_model
def test_a_genuine_slowdown_of_the_same_cell_fails(real_profiles):
    honest_a, _, slow_as_two = real_profiles
    result = compare_files(honest_a, slow_as_two, Thresholds(tolerance=CI_TOLERANCE))
    assert result.compared == 2  # the relabelled profile matches the same cell
    decode = next(r for r in result.rows if r.metric.startswith("decode"))
    assert decode.status == "regression", (
        f"1 thread ran at {decode.ratio:.2f}x the 2-thread speed (p={decode.p_value:.2g}); a ratio"
        " above 1 means the CPU was oversubscribed by other processes while profiling"
    )
    assert decode.ratio < 1 - CI_TOLERANCE and decode.p_value < 0.05
    assert result.exit_code == 1
