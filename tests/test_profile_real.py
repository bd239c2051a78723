"""A real drafting profile of the demo draft at small settings: positive, consistent, labelled."""

from __future__ import annotations

import json

import pytest

from configspec.profiles.drafting import DeviceProfile, DraftingSettings
from configspec.profiles.io import load_profile
from configspec.profiling.drafting_sweep import new_profile, run_sweep, select_cells
from device_profilers import detect_meter

pytestmark = pytest.mark.real_model


@pytest.fixture(scope="module")
def small_profile(demo_registry, demo_draft_path, test_threads, tmp_path_factory):
    out = tmp_path_factory.mktemp("results") / "demo" / "drafting.json"
    settings = DraftingSettings(
        threads=test_threads,
        repetitions=3,
        warmup_tokens=4,
        decode_tokens=12,
        contexts=[8, 64],
        prefill_tokens=32,
        batch_tokens=[2, 5],
    )
    meter, skipped = detect_meter(threads=test_threads)
    cells = select_cells(demo_registry, ["qwen2.5-coder-0.5b"], ["Q4_K_M"])
    profile = new_profile("demo", settings, meter, skipped, "llama_cpp", "?")
    run_sweep(cells, profile, out, meter)
    return out, settings


def test_profile_file_is_valid_and_consistent(small_profile, demo_draft_path):
    out, settings = small_profile
    profile = load_profile(out, DeviceProfile)
    assert profile.environment.device == "demo"
    assert profile.environment.backend_version not in ("", "?")
    assert profile.environment.cpu_model
    (cell,) = profile.cells
    assert cell.file == str(demo_draft_path)
    assert cell.file_sha256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    assert [d.context_tokens for d in cell.decode] == [8, 64]
    assert [(b.context_tokens, b.tokens) for b in cell.batch] == [(8, 2), (8, 5), (64, 2), (64, 5)]
    for batch in cell.batch:  # one timed forward per repetition, raw samples kept
        assert batch.latency_s.n == settings.repetitions == len(batch.latency_s.samples)
        assert all(s > 0 for s in batch.latency_s.samples)
    for decode in cell.decode:
        rate = decode.tokens_per_s
        assert rate.n == settings.repetitions == len(decode.step_s)
        assert all(len(steps) == settings.decode_tokens for steps in decode.step_s)
        assert all(s > 0 for steps in decode.step_s for s in steps)
        # each repetition's rate is exactly tokens / sum of its step times
        for steps, sample in zip(decode.step_s, rate.samples, strict=True):
            assert sample == pytest.approx(settings.decode_tokens / sum(steps))
        assert rate.ci95_low <= rate.mean <= rate.ci95_high
        assert 1 < rate.mean < 1000
        assert decode.energy_j_per_token.mean > 0
        # energy per token = power x time per token, for every repetition
        for energy, power, sample in zip(
            decode.energy_j_per_token.samples, decode.power_w.samples, rate.samples, strict=True
        ):
            assert energy == pytest.approx(power / sample, rel=0.05)
        assert decode.power_source.startswith(("measured:", "estimated:"))
    assert cell.prefill.prompt_tokens == settings.prefill_tokens
    assert cell.prefill.tokens_per_s.mean > 0
    assert profile.power.idle_power_w > 0
    assert profile.power.source.startswith(("measured:", "estimated:"))


def test_profile_json_has_schema_version_and_kind(small_profile):
    data = json.loads(small_profile[0].read_text())
    assert (data["kind"], data["schema_version"]) == ("drafting", 1)
