"""verify-latency: timing K+1-token target calls per K, context and batch size, with energy."""

from __future__ import annotations

import json

import pytest

from configspec.errors import ConfigspecError
from configspec.profiles.environment import Environment
from configspec.profiles.io import load_profile, save_profile
from configspec.profiles.verification import VerificationProfile, VerifySettings
from configspec.profiling.verification import energy_window_calls, measure_verification
from configspec.profiling.verify_command import check_settings
from configspec.runners import open_runner
from device_profilers.estimate import EstimatedMeter, PowerEstimate
from tests.runners.tiny_models import build_pair
from tests.test_cli import run_cli

ACTIVE_W = 10.0


def new_profile(runner) -> VerificationProfile:
    return VerificationProfile(
        environment=Environment.capture("test", 1, runner.backend, runner.backend_version),
        target="tiny", target_quant="F32", target_sha256="0" * 64, repetitions=3,
    )  # fmt: skip


@pytest.fixture(scope="module")
def tiny_runner(tmp_path_factory):
    target_dir, _ = build_pair(tmp_path_factory.mktemp("tiny"))
    runner = open_runner("transformers", target_dir, threads=1, n_ctx=128, n_seq_max=4)
    yield runner
    runner.close()


@pytest.fixture
def meter():
    return EstimatedMeter(PowerEstimate(2.0, ACTIVE_W, "estimated:user", "test wattage"))


def test_profile_has_every_point_with_raw_samples(tiny_runner, meter, tmp_path):
    settings = VerifySettings(ks=(0, 1, 4), contexts=(8, 32), batch_sizes=(1, 2, 4),
                                     repetitions=3)  # fmt: skip
    profile = new_profile(tiny_runner)
    out = tmp_path / "verification-x.json"
    saves = []

    def save():
        saves.append(len(profile.points))
        save_profile(profile, out)

    measure_verification(tiny_runner, profile, settings, meter, save=save)
    keys = [(p.context_tokens, p.batch, p.k) for p in profile.points]
    assert keys == settings.points()
    assert saves == [3 * (i + 1) for i in range(6)]  # after every (context, batch) group
    for p in profile.points:
        lat = p.latency_s
        assert lat.n == 3 == len(lat.samples) and all(s > 0 for s in lat.samples)
        assert lat.min <= lat.mean <= lat.max
        # an estimated meter: energy per call = its active power x the window's duration,
        # which spans the timed call and the rollback after it
        assert p.power_source == "estimated:user"
        assert p.energy_j.mean >= ACTIVE_W * lat.mean * 0.999
        assert p.energy_j.mean <= ACTIVE_W * (lat.mean + 0.05)
        assert p.calls_per_energy_window == 1
    loaded = load_profile(out, VerificationProfile)
    assert loaded.points == profile.points and not loaded.interrupted
    assert tiny_runner.n_past == 0  # left clean


def test_passes_sweep_the_grid_again_and_pool_the_samples(tiny_runner, meter):
    """5 repetitions over 2 passes: 3 calls per point in the first sweep, 2 in the second, one
    point per (context, batch, K) holding all 5 samples in order; the grid is swept twice."""
    settings = VerifySettings(ks=(0, 2), contexts=(8, 16), batch_sizes=(1, 2), repetitions=5,
                              passes=2)  # fmt: skip
    assert [settings.repetitions_in_pass(i) for i in range(2)] == [3, 2]
    profile = new_profile(tiny_runner)
    heard = []
    measure_verification(tiny_runner, profile, settings, meter,
                         on_point=lambda p: heard.append((p.context_tokens, p.batch, p.k,
                                                          p.latency_s.n)))  # fmt: skip
    assert [(p.context_tokens, p.batch, p.k) for p in profile.points] == settings.points()
    assert heard == [(*key, 3) for key in settings.points()] + [
        (*key, 2) for key in settings.points()
    ]
    for p in profile.points:
        assert p.latency_s.n == 5 == len(p.latency_s.samples)
        assert len(p.energy_j.samples) == 5  # one window per call here: every window kept


def test_more_passes_than_repetitions_is_refused():
    with pytest.raises(ConfigspecError, match="--passes is 1 to --repetitions"):
        check_settings(VerifySettings(repetitions=2, passes=3))


def test_more_tokens_cost_more_time(tiny_runner, meter):
    """Scoring 4 sequences x 33 tokens must take longer than 1 sequence x 1 token."""
    settings = VerifySettings(ks=(0, 32), contexts=(16,), batch_sizes=(1, 4),
                                     repetitions=5)  # fmt: skip
    profile = new_profile(tiny_runner)
    measure_verification(tiny_runner, profile, settings, meter)
    by_key = {(p.batch, p.k): p.latency_s.min for p in profile.points}
    assert by_key[(4, 32)] > by_key[(1, 0)]


def test_batch_1_every_k_larger_batches_the_batched_ks(tiny_runner, meter):
    """`configspec run`'s grid: every K at batch 1, a sparser K list at larger batches; the
    context holds the largest K of either list."""
    settings = VerifySettings(ks=(0, 1, 2, 3), batched_ks=(0, 5), contexts=(8,),
                              batch_sizes=(1, 2), repetitions=1)  # fmt: skip
    assert settings.k_max == 5 and settings.n_ctx == 8 + 5 + 9
    profile = new_profile(tiny_runner)
    measure_verification(tiny_runner, profile, settings, meter)
    keys = [(p.batch, p.k) for p in profile.points]
    assert (
        keys
        == [(1, 0), (1, 1), (1, 2), (1, 3), (2, 0), (2, 5)]
        == [(b, k) for _, b, k in settings.points()]
    )


def test_batches_beyond_the_backend_are_skipped_with_a_warning(tiny_runner, meter):
    settings = VerifySettings(ks=(0,), contexts=(8,), batch_sizes=(1, 8), repetitions=1)
    profile = new_profile(tiny_runner)
    measure_verification(tiny_runner, profile, settings, meter)
    assert [p.batch for p in profile.points] == [1]
    assert any("batch sizes [8] skipped" in w for w in profile.warnings)


def test_ctrl_c_keeps_the_points_measured(tiny_runner, meter, tmp_path):
    settings = VerifySettings(ks=(0, 1), contexts=(8, 16), batch_sizes=(1, 2),
                                     repetitions=2)  # fmt: skip
    profile = new_profile(tiny_runner)
    out = tmp_path / "verification-int.json"
    calls = {"n": 0}
    real = tiny_runner.forward_batch

    def flaky(token_lists, all_logits=False):
        calls["n"] += 1
        if calls["n"] == 20:  # inside the second (context, batch) group
            raise KeyboardInterrupt
        return real(token_lists, all_logits)

    tiny_runner.forward_batch = flaky
    try:
        with pytest.raises(KeyboardInterrupt):
            measure_verification(tiny_runner, profile, settings, meter,
                                 save=lambda: save_profile(profile, out))  # fmt: skip
    finally:
        del tiny_runner.forward_batch
    saved = load_profile(out, VerificationProfile)
    assert saved.interrupted
    assert 2 <= len(saved.points) < len(settings.points())
    assert tiny_runner.n_past == 0


def test_energy_windows_span_the_meter_period():
    class Slow(EstimatedMeter):
        sampling_period_s = 0.1

    slow = Slow(PowerEstimate(1.0, 5.0, "estimated:user", "x"))
    assert energy_window_calls(slow, 0.02) == 10
    assert energy_window_calls(slow, 0.5) == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--target", "qwen2.5-coder-0.5b"], "is a draft"),
        (["--target", "nope"], "nope"),
        (["--contexts", "12,abc"], "--contexts takes integers"),
        (["--batch-sizes", "0,2"], "--batch-sizes"),
        (["--batched-ks", "0,x"], "--batched-ks takes integers"),
        (["--batched-ks", "-1"], "--batched-ks takes K values"),
    ],
)
def test_cli_errors_are_one_line(args, message):
    result = run_cli("verify-latency", *args)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_cli_help():
    result = run_cli("verify-latency", "--help")
    assert result.returncode == 0 and "--batch-sizes" in result.stdout


@pytest.mark.real_model
def test_real_verification_profile_on_the_demo_draft(demo_draft_path, test_threads, tmp_path):
    """llama.cpp, several sequences per call: positive, labelled, consistent numbers."""
    from device_profilers import detect_meter

    meter, _ = detect_meter(threads=test_threads)
    settings = VerifySettings(ks=(0, 3), contexts=(8, 24), batch_sizes=(1, 2),
                                     repetitions=2)  # fmt: skip
    runner = open_runner("llama_cpp", demo_draft_path, threads=test_threads,
                         n_ctx=settings.n_ctx, n_seq_max=2)  # fmt: skip
    try:
        profile = new_profile(runner)
        out = tmp_path / "verification-real.json"
        measure_verification(runner, profile, settings, meter,
                             save=lambda: save_profile(profile, out))  # fmt: skip
    finally:
        runner.close()
    data = json.loads(out.read_text())
    assert data["kind"] == "verification" and len(data["points"]) == 8
    for p in load_profile(out, VerificationProfile).points:
        assert p.latency_s.n == 2 and 0 < p.latency_s.mean < 60
        assert p.energy_j.mean > 0
        assert p.power_source.startswith(("measured:", "estimated:"))


def test_a_transformers_target_from_a_folder_records_the_dtype_it_ran(tmp_path):
    """models.yaml names a checkpoint folder and BF16: verify-latency loads it in BF16 and the
    profile says BF16 (not F32, the dtype the runner would otherwise pick)."""
    target_dir, _ = build_pair(tmp_path / "tiny")
    registry = tmp_path / "models.yaml"
    registry.write_text(
        "schema_version: 1\nmodels:\n  - name: tiny\n    role: target\n    family: tiny\n"
        f"    backend: transformers\n    source: {{path: {target_dir}}}\n    quant: BF16\n"
        "    quantizations: [BF16]\n"
    )
    out = tmp_path / "v.json"
    done = run_cli("verify-latency", "--models", str(registry), "--ks", "0,1", "--contexts", "8",
                   "--batch-sizes", "1", "--repetitions", "2", "--threads", "1",
                   "--power-w", "5", "--idle-power-w", "1", "--out", str(out), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    profile = load_profile(out, VerificationProfile)
    assert profile.target_quant == "BF16"
    assert profile.target_file == str(target_dir) and len(profile.target_sha256) == 64
