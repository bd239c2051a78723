"""Does the fleet model predict a real server under a fleet? Target: per-device goodput and the
server's verified tokens/s within 15% for fleets of 1, 2, 4 and 8 emulated devices (mixed
quantizations and K), and the capacity at an inter-token-latency target off by at most one.

A real `configspec serve` (the demo target, 1 thread, pinned to CPU 0) verifies for
`configspec fleet` (emulated devices, pinned to CPU 1): each device waits drafting times sampled
from the drafting profile and sends the tokens its alignment traces say the draft proposes
(emulated: draft compute, network; real: server, verification, batching, protocol). The model
is fed the same profiles: the verification profile (measured here first, on CPU 0 with the
server not yet running, unless --verification is given; contexts up to the cells 8 devices'
sessions hold together, since the server's one KV buffer makes every call read them all,
docs/model.md; three passes over the grid), the drafting profile's step times and the traces'
rounds. The real system's own per-round terms (the transport's base round trip, the server's
work outside the forward call) are calibrated once, from the 1-device run, and used for every
fleet (docs/model.md). The model describes the work each group did in the measured span: its
prompts as played (predict.as_played; a group plays 3 to 5 of the 12 prompts in three minutes,
and prompts differ in length and acceptance). Both predictors are shown: exact MVA and the
simulation.

A shared VM's speed drifts by 10-30% within the hour, more than the target; the verification
profile's three passes spread the drift over its points. Each run's forward calls are compared
with t_v for the same calls at the cells the fleet holds ("server speed", 1 = as profiled), and
a last column gives MVA's error with t_v rescaled to that speed (a diagnostic; PASS/FAIL is on
the profile as measured).

Fleets (kinds: A = Q4_K_M K=4 over +20 ms, B = Q8_0 K=2, C = Q2_K K<=8 tau=0.5 over +50 ms):
1 = A; 2 = A + B; 4 = 2A + B + C; 8 = 3A + 3B + 2C; closed loop, no think time. Capacity:
kind A alone; the largest count whose measured mean inter-token latency meets the target,
found by runs around the predicted capacity.

    python benchmarks/fleet_vs_model.py --drafting D.json --alignment A.json \
        [--verification V.json] [--fleets 1,2,4,8] [--duration 180] [--warmup 60] \
        [--itl-target-ms T] [--max-batch 8] [--window-ms 5]

The warm-up must cover the start-up burst: every device opens its session at the start, and the
server prefills all their prompts (one chunk per call) before the fleet reaches the steady state
the model describes; on a busy machine that burst takes minutes for 8 devices.

Run time: verify-latency (~5 min on a quiet 2-core machine, skipped with --verification) +
(fleets + about 4 capacity runs) x (warm-up + duration + ~15 s): ~40 min at the defaults.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import yaml

from configspec.analytic.batching import BatchCost
from configspec.analytic.fleet_model import capacity, held_context, predict_mva
from configspec.fleet.inputs import load_fleet_inputs, load_tokenizers
from configspec.fleet.local_server import LocalServer
from configspec.fleet.predict import (
    FleetTerms,
    as_played,
    calibrate,
    group_load,
    predict,
    server_terms,
)
from configspec.fleet.spec import load_fleet
from configspec.profiles.fleet import FleetProfile
from configspec.profiles.io import load_profile
from configspec.profiles.verification import VerificationProfile
from configspec.registry import load_registry

SERVER_CPU, EMULATOR_CPU = "0", "1"
DRAFT = "qwen2.5-coder-0.5b"
KINDS = {
    "A": {"quant": "Q4_K_M", "policy": {"k_max": 4}, "network": {"rtt_ms": 20}},
    "B": {"quant": "Q8_0", "policy": {"k_max": 2}, "network": {"rtt_ms": 0}},
    "C": {"quant": "Q2_K", "policy": {"k_max": 8, "tau": 0.5}, "network": {"rtt_ms": 50}},
}
FLEETS = {
    1: {"A": 1},
    2: {"A": 1, "B": 1},
    4: {"A": 2, "B": 1, "C": 1},
    8: {"A": 3, "B": 3, "C": 2},
}


def cli(*args: str, cpu: str) -> list[str]:
    return ["taskset", "-c", cpu, sys.executable, "-m", "configspec", *args]


def fleet_file(path: Path, args, counts: dict[str, int]) -> Path:
    data = {
        "schema_version": 1, "alignment": str(args.alignment.resolve()),
        "verification": str(args.verification.resolve()),
        "server": {"max_batch": args.max_batch, "batch_window_ms": args.window_ms,
                   "prefill_chunk_tokens": args.prefill_chunk},
        "groups": [{"name": kind, "drafting": str(args.drafting.resolve()), "draft": DRAFT,
                    "count": n, **KINDS[kind]} for kind, n in counts.items() if n],
    }  # fmt: skip
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def emulate(path: Path, address: str, args, out: Path) -> FleetProfile:
    subprocess.run(cli("fleet", "--fleet", str(path), "--server", address, "--duration",
                       str(args.duration), "--warmup", str(args.warmup), "--out", str(out),
                       cpu=EMULATOR_CPU), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)  # fmt: skip
    return load_profile(out, FleetProfile)


# 8 devices hold about 8 x 125 cells (prompts of ~95 tokens, 64 new): the contexts reach them
CONTEXTS = "128,512,1024"


def measure_verification(tmp: Path, max_batch: int, chunk_tokens: int) -> Path:
    out = tmp / "verification.json"
    batches = ",".join(str(b) for b in (1, 2, 4, 8, 16) if b <= max(2, max_batch))
    # batch 1 up to a prefill chunk (K = C - 1): what a chunk riding along costs
    ks = ",".join(str(k) for k in sorted({0, 1, 2, 3, 4, 5, 6, 8, 16, 32, chunk_tokens - 1}))
    print(f"verify-latency on CPU {SERVER_CPU} (K {ks} at batch 1, K 0,1,2,4,8 at batch "
          f"{batches}; contexts {CONTEXTS}; 3 passes) ...", flush=True)  # fmt: skip
    subprocess.run(cli("verify-latency", "--threads", "1", "--ks", ks, "--batched-ks", "0,1,2,4,8",
                       "--contexts", CONTEXTS, "--batch-sizes", batches, "--repetitions", "3",
                       "--passes", "3", "--device", "bench", "--out", str(out), cpu=SERVER_CPU),
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return out


class ScaledCost(BatchCost):
    """The verification profile's t_v times a factor: the server's speed during one run."""

    def __init__(self, cost: BatchCost, factor: float):
        super().__init__(cost.curves, cost.packing)
        object.__setattr__(self, "factor", factor)

    def latency_s(self, k: float, batch: float, context_tokens: float) -> float:
        return self.factor * super().latency_s(k, batch, context_tokens)


def server_speed(profile: FleetProfile, cost: BatchCost, inputs, terms: FleetTerms) -> float:
    """The run's forward calls against t_v for the same calls (1: as profiled; a shared machine
    drifts): sum of verify_s / sum of predicted, each call once (a round's share: 1 / batch), at
    the mean cells the fleet's sessions hold."""
    server = server_terms(inputs.fleet.server, terms)
    held = held_context([group_load(g, inputs.n_vocab, terms) for g in inputs.groups], server)
    rounds = profile.round_samples
    measured = sum(r.verify_s / r.batch_size for r in rounds)
    predicted = sum(cost.call_s([r.batch_tokens / r.batch_size] * r.batch_size, 0, held)
                    / r.batch_size for r in rounds)  # fmt: skip
    return measured / predicted if predicted > 0 else float("nan")


def err(measured: float, predicted: float) -> float:
    """Relative error of the prediction; infinite when nothing was measured (a failed run)."""
    return predicted / measured - 1 if measured > 0 else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drafting", type=Path, required=True)
    parser.add_argument("--alignment", type=Path, required=True)
    parser.add_argument("--verification", type=Path)
    parser.add_argument("--models", type=Path, default=Path("models.yaml"))
    parser.add_argument("--fleets", default="1,2,4,8")
    parser.add_argument("--duration", type=float, default=180.0)
    parser.add_argument("--warmup", type=float, default=60.0)
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--window-ms", type=float, default=5.0)
    parser.add_argument("--prefill-chunk", type=int, default=64)
    parser.add_argument("--itl-target-ms", type=float, help="default: the model's mean ITL at 3")
    parser.add_argument("--skip-capacity", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fleet-vs-model-"))
    started = time.monotonic()
    registry = load_registry(args.models)
    if args.verification is None:
        args.verification = measure_verification(tmp, args.max_batch, args.prefill_chunk)
    cost = BatchCost.of(load_profile(args.verification, VerificationProfile))
    sizes = [int(n) for n in args.fleets.split(",")]
    runs: dict[int, tuple[FleetProfile, object]] = {}
    with LocalServer(tmp / "server", models=args.models, max_sessions=64, ctx=512,
                     max_batch=args.max_batch, batch_window_ms=args.window_ms,
                     prefill_chunk=args.prefill_chunk, cpus=SERVER_CPU) as server:  # fmt: skip
        print(f"server {server.address}: CPU {SERVER_CPU}, 1 thread, batches of <= "
              f"{args.max_batch}, window {args.window_ms:g} ms; emulator: CPU {EMULATOR_CPU}; "
              f"{args.warmup:g} s warm-up + {args.duration:g} s measured per run", flush=True)  # fmt: skip
        for n in sizes:
            path = fleet_file(tmp / f"fleet-{n}.yaml", args, FLEETS[n])
            profile = emulate(path, server.address, args, tmp / f"fleet-{n}.json")
            fleet = load_fleet(path)
            inputs = load_fleet_inputs(fleet, registry, load_tokenizers(fleet, registry))
            runs[n] = (profile, inputs)
            print(f"{n} device(s): {profile.server.verified_tokens_per_s:.2f} verified tok/s, "
                  f"{profile.rounds_checked} rounds, {profile.rounds_not_as_predicted} not as "
                  f"the traces predict", flush=True)  # fmt: skip
        terms = calibrate(runs[min(runs)][0]) if runs else FleetTerms()
        rows, worst = [], 0.0
        speeds = {}
        for n, (profile, inputs) in runs.items():
            inputs = as_played(inputs, profile)  # the prompts each group played in the span
            mva = predict(inputs, cost, terms, "mva")
            sim = predict(inputs, cost, terms, "simulation")
            speeds[n] = server_speed(profile, cost, inputs, terms)
            rescaled = predict(inputs, ScaledCost(cost, speeds[n]), terms, "mva")
            groups = zip(profile.groups, mva.groups, sim.groups, rescaled.groups, strict=True)
            for g, pm, ps, pr in groups:
                m = g.goodput_tok_s
                e1 = err(m, pm.goodput_tok_s)
                worst = max(worst, abs(e1))
                rows.append((f"{n}", f"{g.count} x {g.name} {g.quant} {g.policy.label}",
                             m, pm.goodput_tok_s, e1, ps.goodput_tok_s,
                             err(m, ps.goodput_tok_s), err(m, pr.goodput_tok_s)))  # fmt: skip
            sv = profile.server.verified_tokens_per_s
            e1 = err(sv, mva.verified_tokens_per_s)
            worst = max(worst, abs(e1))
            rows.append((f"{n}", "server verified tok/s", sv, mva.verified_tokens_per_s, e1,
                         sim.verified_tokens_per_s, err(sv, sim.verified_tokens_per_s),
                         err(sv, rescaled.verified_tokens_per_s)))  # fmt: skip
        print(
            f"\ncalibrated from the 1-device run: transport {1e3 * terms.wire_s:.1f} ms per "
            f"round trip, server {1e3 * terms.server_round_s:.1f} ms per round outside the call"
        )
        print(
            "server speed during each run (its forward calls / t_v of the same calls): "
            + ", ".join(f"{n} devices {v:.2f}" for n, v in speeds.items())
        )
        print(f"\n{'devices':>7} {'what':<34} {'measured':>9} {'MVA':>8} {'error':>7} "
              f"{'sim':>8} {'error':>7} {'MVA@speed':>9}   (tok/s; per device unless 'server')")  # fmt: skip
        for n, what, m, p1, e1, p2, e2, e3 in rows:
            print(f"{n:>7} {what:<34} {m:>9.3f} {p1:>8.3f} {e1:>+7.1%} {p2:>8.3f} {e2:>+7.1%} "
                  f"{e3:>+9.1%}")  # fmt: skip
        print(f"worst MVA error {worst:.1%}: {'PASS' if worst <= 0.15 else 'FAIL'} (target 15%)")
        if not args.skip_capacity:
            capacity_check(args, server.address, registry, cost, terms, tmp)
    print(f"\ntook {(time.monotonic() - started) / 60:.1f} min; runs and profiles in {tmp}")


def capacity_check(args, address: str, registry, cost: BatchCost, terms: FleetTerms, tmp: Path):
    path = fleet_file(tmp / "capacity-1.yaml", args, {"A": 1})
    fleet = load_fleet(path)
    inputs = load_fleet_inputs(fleet, registry, load_tokenizers(fleet, registry))
    load = group_load(inputs.groups[0], inputs.n_vocab, terms)
    server = server_terms(fleet.server, terms)
    if args.itl_target_ms is None:
        itl3 = predict_mva([replace(load, count=3)], cost, server).groups[0].itl_s
        args.itl_target_ms = float(np.ceil(1e3 * itl3 * 1.02))
    target_s = args.itl_target_ms / 1000.0
    predicted = capacity(load, cost, server, target_s, limit=64)
    print(
        f"\ncapacity: kind A ({KINDS['A']['quant']} K=4, +20 ms) at mean inter-token latency "
        f"<= {args.itl_target_ms:g} ms; the model says {predicted} device(s)",
        flush=True,
    )
    found, measured = 0, {}
    for n in range(max(1, predicted - 1), predicted + 3):
        profile = emulate(fleet_file(tmp / f"capacity-{n}.yaml", args, {"A": n}), address, args,
                          tmp / f"capacity-{n}.json")  # fmt: skip
        itl = profile.groups[0].inter_token_latency_s.get("mean", float("inf"))
        measured[n] = itl
        print(f"  {n} device(s): measured mean ITL {1e3 * itl:.0f} ms", flush=True)
        if itl <= target_s:
            found = n
        elif n > predicted:
            break
    off = abs(found - predicted)
    print(
        f"capacity: predicted {predicted}, found by emulation {found} (largest count meeting "
        f"the target among {sorted(measured)}): off by {off}: "
        f"{'PASS' if off <= 1 else 'FAIL'} (target: at most 1)"
    )
    print(json.dumps({str(k): round(1e3 * v, 1) for k, v in measured.items()}))


if __name__ == "__main__":
    main()
