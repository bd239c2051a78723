"""Does the joint fleet pick beat the per-device picks on the emulation, as predicted?

`configspec recommend --fleet FLEET` picks every group's draft x quant x policy and the server's
batch limit and window together, and writes two ready fleet files: the joint pick and the
per-device picks (each device configured alone, as `configspec recommend` does, run at the fleet
file's server settings). Each is then run for real: a `configspec serve` with that file's
batching (1 thread, CPU 0) and `configspec fleet` (CPU 1; emulated draft compute and network,
real server, verification, batching, protocol). The table compares the predicted and the
measured verified tokens/s and each group's mean inter-token latency against its target.
recommend predicts from the whole prompt set, which a long-running fleet plays; a run of two
minutes plays a few prompts per group, so each run is also re-predicted (MVA and simulation) with
the prompts it played (fleet/predict.as_played, docs/fleet.md "Compare like with like").

    python benchmarks/fleet_joint_pick.py FLEET.yaml [--duration 120] [--warmup 30]
        [--objective goodput] [--calibration FLEET_PROFILE]

Run time: recommend (~1 min) + 2 x (server start + warm-up + duration + ~20 s): ~8 min at the
defaults.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from configspec.analytic.batching import BatchCost
from configspec.fleet.inputs import load_fleet_inputs, load_tokenizers
from configspec.fleet.local_server import LocalServer
from configspec.fleet.predict import FleetTerms, as_played, calibrate, predict
from configspec.fleet.spec import load_fleet
from configspec.profiles.fleet import FleetProfile
from configspec.profiles.io import load_profile
from configspec.profiles.verification import VerificationProfile
from configspec.registry import load_registry

SERVER_CPU, EMULATOR_CPU = "0", "1"


def configspec(*args: str, cpu: str | None = None) -> list[str]:
    pin = ["taskset", "-c", cpu] if cpu else []
    return [*pin, sys.executable, "-m", "configspec", *args]


def run_fleet(path: Path, args, tmp: Path, name: str) -> FleetProfile:
    fleet = load_fleet(path)
    server = fleet.server
    with LocalServer(tmp / f"server-{name}", models=args.models, max_sessions=max(64, fleet.devices),
                     max_batch=server.max_batch, batch_window_ms=server.batch_window_ms,
                     prefill_chunk=server.prefill_chunk_tokens, ctx=args.ctx,
                     cpus=SERVER_CPU) as serve:  # fmt: skip
        out = tmp / f"fleet-{name}.json"
        subprocess.run(configspec("fleet", "--fleet", str(path), "--models", str(args.models),
                                  "--server", serve.address, "--duration", str(args.duration),
                                  "--warmup", str(args.warmup), "--out", str(out),
                                  cpu=EMULATOR_CPU),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return load_profile(out, FleetProfile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fleet", type=Path)
    parser.add_argument("--models", type=Path, default=Path("models.yaml"))
    parser.add_argument("--duration", type=float, default=120.0)
    parser.add_argument("--warmup", type=float, default=30.0)
    parser.add_argument("--ctx", type=int, default=512)
    parser.add_argument("--objective", default="goodput")
    parser.add_argument("--calibration", type=Path)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fleet-joint-"))
    extra = ["--calibration", str(args.calibration)] if args.calibration else []
    subprocess.run(configspec("recommend", "--fleet", str(args.fleet), "--models",
                              str(args.models), "--objective", args.objective, "--out-dir",
                              str(tmp), *extra), check=True)  # fmt: skip
    report = json.loads((tmp / "fleet-recommendations.json").read_text())
    print(
        f"\nserver: CPU {SERVER_CPU}, 1 thread; emulator: CPU {EMULATOR_CPU}; "
        f"{args.warmup:g} s warm-up + {args.duration:g} s measured per pick",
        flush=True,
    )
    measured = {}
    for name, key in (("per-device", "per_device"), ("joint", "joint")):
        measured[name] = run_fleet(tmp / f"fleet-{name}.yaml", args, tmp, name)
        p = measured[name]
        print(
            f"{name}: {p.server.verified_tokens_per_s:.2f} verified tok/s measured, "
            f"{report[key]['predicted']['verified_tokens_per_s']:.2f} predicted",
            flush=True,
        )
    print(f"\n{'pick':<11} {'group':<10} {'configuration':<42} {'ITL ms meas/pred':>17} "
          f"{'target':>7}")  # fmt: skip
    for name, key in (("per-device", "per_device"), ("joint", "joint")):
        for g, pred in zip(measured[name].groups, report[key]["groups"], strict=True):
            target = pred["predicted"]["itl_target_s"]
            itl = g.inter_token_latency_s.get("mean", float("nan"))
            print(f"{name:<11} {g.name:<10} {g.draft + ' ' + g.quant + ' ' + g.policy.label:<42} "
                  f"{1e3 * itl:>8.0f}/{1e3 * pred['predicted']['mean_inter_token_latency_s']:<8.0f}"
                  f" {'-' if target is None else f'{1e3 * target:.0f}':>7}")  # fmt: skip
    base, joint = measured["per-device"], measured["joint"]
    gain = joint.server.verified_tokens_per_s / base.server.verified_tokens_per_s - 1
    print(f"\nverified tok/s: per-device picks {base.server.verified_tokens_per_s:.2f}, joint "
          f"{joint.server.verified_tokens_per_s:.2f}: measured gain {gain:+.1%}, predicted "
          f"{report['gain']['goodput']:+.1%}; runs in {tmp}")  # fmt: skip
    as_played_table(args, tmp, measured)


def as_played_table(args, tmp: Path, measured: dict[str, FleetProfile]) -> None:
    """Each run against the model given the prompts it played."""
    registry = load_registry(args.models)
    terms = calibrate(load_profile(args.calibration, FleetProfile)) if args.calibration else (
        FleetTerms())  # fmt: skip
    print("\nwith the prompts each run played (verified tok/s, measured / predicted):")
    rates = {}
    for name, profile in measured.items():
        fleet = load_fleet(tmp / f"fleet-{name}.yaml")
        cost = BatchCost.of(load_profile(Path(fleet.verification), VerificationProfile),
                            fleet.server.packing)  # fmt: skip
        inputs = as_played(load_fleet_inputs(fleet, registry, load_tokenizers(fleet, registry)),
                           profile)  # fmt: skip
        mva, sim = (predict(inputs, cost, terms, m) for m in ("mva", "simulation"))
        m = profile.server.verified_tokens_per_s
        rates[name] = (m, mva.verified_tokens_per_s, sim.verified_tokens_per_s)
        print(f"  {name:<11} {m:.2f} / MVA {mva.verified_tokens_per_s:.2f} "
              f"({mva.verified_tokens_per_s / m - 1:+.1%}), simulation "
              f"{sim.verified_tokens_per_s:.2f} ({sim.verified_tokens_per_s / m - 1:+.1%})")  # fmt: skip
    (bm, bp, bs), (jm, jp, js) = rates["per-device"], rates["joint"]
    print(f"  gain of the joint pick, as played: measured {jm / bm - 1:+.1%}, MVA {jp / bp - 1:+.1%},"
          f" simulation {js / bs - 1:+.1%}")  # fmt: skip


if __name__ == "__main__":
    main()
