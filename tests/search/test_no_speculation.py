"""Not speculating is a candidate like any other, on real-shaped profiles: the committed demo
baselines (a real drafting profile of the 0.5B draft and a real greedy alignment with the 1.5B
target) with two verification servers shaped like measurements. FIXTURES for the servers:

- a CPU server, where scoring K + 1 tokens costs close to K + 1 steps (the 1.5B on 2 cores:
  36 ms at K = 0, 65 at K = 1, 120 at K = 4, 270 at K = 8): speculation loses on every objective,
  so every pick must say to run the target alone;
- a GPU-like server verifying a big target, nearly flat in K (150 ms + 2 ms per token): the
  drafts pay for themselves on goodput.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from configspec.analytic.evaluate import evaluate
from configspec.analytic.scenario import Scenario
from configspec.profiles.alignment import AlignmentProfile
from configspec.profiles.drafting import DeviceProfile
from configspec.profiles.io import load_profile, save_profile
from configspec.profiles.verification import VerificationProfile, VerifyPoint
from configspec.recommend.command import RecommendOptions, recommend
from configspec.search.engines import VLLM
from configspec.search.space import build_space
from tests.builders import constant, environment
from tests.conftest import ROOT

BASELINES = ROOT / "results" / "baselines"
CPU_SERVER_MS = {0: 36.0, 1: 65.0, 2: 83.0, 4: 120.0, 8: 270.0}


def server(latency_ms: dict[int, float], power_w: float) -> VerificationProfile:
    """The demo target's verification profile (same file as the alignment's target)."""
    aligned = load_profile(BASELINES / "demo-alignment.json", AlignmentProfile).cells[0]
    points = [
        VerifyPoint(k=k, batch=1, context_tokens=ctx, latency_s=constant(ms / 1000),
                    energy_j=constant(power_w * ms / 1000), power_source="measured:fixture")
        for ctx in (128, 512) for k, ms in latency_ms.items()
    ]  # fmt: skip
    return VerificationProfile(
        environment=environment("server"), target=aligned.target,
        target_quant=aligned.target_quant, target_sha256=aligned.target_sha256, repetitions=3,
        points=points,
    )  # fmt: skip


def run(tmp_path: Path, verification: VerificationProfile, scenario: Path | None = None):
    path = save_profile(verification, tmp_path / "verification.json")
    report, _ = recommend(RecommendOptions(
        drafting=[BASELINES / "demo-drafting.json"], alignment=BASELINES / "demo-alignment.json",
        verification=path, out_dir=tmp_path, scenario=scenario,
    ))  # fmt: skip
    (device,) = report.devices
    return device


def test_where_speculation_loses_every_pick_runs_the_target_alone(tmp_path):
    device = run(tmp_path, server(CPU_SERVER_MS, power_w=60.0))
    target_alone = device.baselines[0]
    for objective, pick in device.picks.items():
        assert not pick.speculates and pick.runs == "target alone on the server", objective
        assert pick.policy.label == "no speculation" and pick.deploy is None
        assert pick.summary.startswith("Do not speculate: run the target alone on the server")
        assert pick.predicted.goodput_tok_s == pytest.approx(target_alone.goodput_tok_s)
        assert pick.vs_target_autoregressive.speedup == pytest.approx(1.0)
        for engine in pick.engines.values():  # no engine speculates either
            assert engine is not None and not engine.configuration.speculates
    # the words name what speculation would have given, and it is worse
    goodput = device.picks["goodput"]
    assert "The best speculative configuration, qwen2.5-coder-0.5b Q4_K_M" in goodput.summary
    assert 1000 / 36.0 == pytest.approx(goodput.predicted.goodput_tok_s)


def test_where_speculation_wins_the_goodput_pick_speculates(tmp_path):
    flat = {k: 150.0 + 2.0 * k for k in (0, 1, 2, 4, 8)}
    device = run(tmp_path, server(flat, power_w=300.0))
    pick = device.picks["goodput"]
    assert pick.speculates and pick.summary.startswith("Speculate:")
    assert pick.vs_target_autoregressive.speedup > 1.0
    assert (
        pick.deploy is not None and "--draft qwen2.5-coder-0.5b --quant Q4_K_M" in pick.deploy.edge
    )
    # vLLM's setting is its own best fixed K, whatever policy the pick uses
    vllm = pick.engines["vllm"]
    assert vllm is not None and vllm.configuration.policy.tau is None
    k = vllm.settings["speculative_config"]["num_speculative_tokens"]
    assert k == vllm.configuration.policy.k_max
    fixed = {p.label: p.goodput_tok_s for p in device.pareto_front
             if p.policy.tau is None and p.overlap == "none"}  # what vLLM can run  # fmt: skip
    assert all(vllm.configuration.predicted.goodput_tok_s >= g - 1e-9 for g in fixed.values())


def test_a_threshold_pick_gets_vllm_s_best_fixed_k(tmp_path):
    """Where the pick is a threshold policy, vLLM (no threshold) gets the fixed K that is best
    for the same objective in vLLM's own space, not the threshold's K max with tau dropped."""
    steep = {k: 150.0 + 20.0 * k for k in (0, 1, 2, 4, 8)}  # 20 ms per verified token
    verification = server(steep, power_w=300.0)
    synchronous = tmp_path / "scenario.yaml"  # (a proactive fixed K would win here otherwise)
    synchronous.write_text("default_edge: {overlaps: [none]}\n")
    device = run(tmp_path, verification, synchronous)
    pick = device.picks["goodput"]
    assert pick.policy.is_threshold, pick.label  # the fixture's point: tau=0.5 wins here
    vllm = pick.engines["vllm"]
    assert vllm.configuration.policy.tau is None
    # vLLM's space on its own: every fixed K of the draft, and the target alone
    drafting = load_profile(BASELINES / "demo-drafting.json", DeviceProfile)
    alignment = load_profile(BASELINES / "demo-alignment.json", AlignmentProfile)
    space = build_space(drafting, alignment, verification, Scenario(), VLLM)
    goodput = evaluate(space.inputs, space.terms).goodput_tok_s
    best = int(np.argmax(goodput))
    assert space.policy[best] == vllm.configuration.policy
    assert vllm.settings["speculative_config"]["num_speculative_tokens"] == space.policy[best].k_max
    assert vllm.configuration.predicted.goodput_tok_s == pytest.approx(goodput[best])


def test_a_policy_whose_drafts_vary_pays_the_mean_of_t_v_over_them():
    """t_v is not linear in D (here t_v(2) > t_v(4), as llama.cpp's CPU kernels measured): a
    row whose alignment stats give the share of rounds per D pays the mean of t_v(D) over them;
    one without (older profiles) pays t_v at its mean D."""
    bumpy = {0: 150.0, 1: 250.0, 2: 330.0, 4: 270.0, 8: 580.0}
    verification = server(bumpy, power_w=300.0)
    drafting = load_profile(BASELINES / "demo-drafting.json", DeviceProfile)
    alignment = load_profile(BASELINES / "demo-alignment.json", AlignmentProfile)
    cell = alignment.cells[0]
    stats = next(s for s in cell.threshold if s.drafted_per_round > 0)
    shares = [0.5, 0.0, 0.0, 0.0, 0.5]  # D = 0 or 4: mean D 2
    stats.drafted_per_round, stats.drafted_shares = 2.0, shares
    untouched = next(s for s in cell.fixed_k if s.k_max == 2)
    untouched.drafted_per_round, untouched.drafted_shares = 2.0, None
    space = build_space(drafting, alignment, verification, Scenario())
    rows = {
        (str(p), o): i for i, (p, o) in enumerate(zip(space.policy, space.overlap, strict=True))
    }
    ctx = Scenario().context_tokens
    at_128_and_512 = lambda d: float(np.interp(ctx, [128, 512], [bumpy[d] / 1e3] * 2))  # noqa: E731
    mixed = space.inputs.verify_s[rows[(str(stats.policy), "none")]]
    assert mixed == pytest.approx(0.5 * at_128_and_512(0) + 0.5 * at_128_and_512(4))  # 0.210
    fixed = space.inputs.verify_s[rows[(str(untouched.policy), "none")]]
    assert fixed == pytest.approx(at_128_and_512(2))  # 0.330, more than the mixed row's
    # the server's energy per round follows the same mean (power 300 W x each t_v)
    assert space.inputs.verify_j[rows[(str(stats.policy), "none")]] == pytest.approx(300 * mixed)
