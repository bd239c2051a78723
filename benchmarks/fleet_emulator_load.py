"""Is the emulator the bottleneck? A fleet of many emulated devices (default 200) for a short
span against a real `configspec serve` (1 thread, CPU 0), the emulator on CPU 1: its own CPU
share (load generator + relays, in cores) and how late the devices' drafting waits woke (p50 /
p99 of waited - sampled: an emulator short of CPU wakes late). The server, one CPU core
verifying for every device, is meant to be the limit.

With --fake-target the same number of devices runs against configspec's real gRPC service and
engine on a fake, instant target (tests/serving/fake_server.py; 50 ms drafting, +20 ms round
trip): the rounds per second the emulator sustains when the server is never the limit, and its
CPU share doing so.

    python benchmarks/fleet_emulator_load.py --drafting D.json --alignment A.json \
        [--devices 200] [--duration 60] [--warmup 20]
    python benchmarks/fleet_emulator_load.py --fake-target [--devices 200] [--duration 30]

Run time: server start + warm-up + duration + ~30 s: ~2 min at the defaults.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from configspec.fleet.local_server import LocalServer
from configspec.profiles.fleet import FleetProfile
from configspec.profiles.io import load_profile

SERVER_CPU, EMULATOR_CPU = "0", "1"


def fake_target_run(devices: int, duration_s: float, warmup_s: float) -> FleetProfile:
    """The emulator against the real service and engine on an instant fake target."""
    from configspec.alignment.tokenizers import tokenizer_fingerprint
    from configspec.fleet.run import FleetOptions, Prepared, emulate, probe_server
    from tests.fakes import FakeRunner
    from tests.fleet.builders import TARGET_FN, V, fleet_inputs, group_inputs
    from tests.serving.fake_server import FakeServer

    inputs = fleet_inputs(group_inputs("devices", count=devices, k=3, rtt_ms=20, step_s=0.05 / 3))
    with FakeServer(FakeRunner(TARGET_FN, V), max_sessions=max(256, devices), max_batch=8,
                    window_s=0.005) as server:  # fmt: skip
        prepared = Prepared(inputs, {"fake-draft": tokenizer_fingerprint(server.runner)},
                            probe_server(server.address), [])  # fmt: skip
        return emulate(prepared, FleetOptions(fleet=Path("fake"), server=server.address,
                                              duration_s=duration_s, warmup_s=warmup_s))  # fmt: skip


def report(p: FleetProfile, devices: int, duration_s: float, warmup_s: float) -> None:
    em = p.emulator
    sessions = sum(sum(g.sessions.values()) for g in p.groups)
    print(f"\n{devices} emulated devices, {warmup_s:g} s warm-up + {duration_s:g} s: "
          f"{p.rounds_checked} rounds ({p.server.rounds_per_s:.1f}/s in the span), {sessions} "
          f"sessions ended, server {p.server.verified_tokens_per_s:.2f} verified tok/s at "
          f"utilisation {p.server.utilisation:.0%}, mean batch {p.server.batch_size_mean:.2f}\n"
          f"emulator CPU: {em.cpu_s:.1f} s over {em.wall_s:.0f} s = {em.cores:.1%} of one core "
          f"(load generator {em.loadgen_cpu_s:.1f} s, relays {em.relay_cpu_s:.1f} s); drafting "
          f"waits late by p50 {1e3 * em.drafting_lag_s.get('p50', 0):.1f} ms, p99 "
          f"{1e3 * em.drafting_lag_s.get('p99', 0):.1f} ms")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drafting", type=Path)
    parser.add_argument("--alignment", type=Path)
    parser.add_argument("--fake-target", action="store_true")
    parser.add_argument("--models", type=Path, default=Path("models.yaml"))
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=20.0)
    parser.add_argument("--think-s", type=float, default=2.0)
    args = parser.parse_args()
    if args.fake_target:
        report(fake_target_run(args.devices, args.duration, args.warmup), args.devices,
               args.duration, args.warmup)  # fmt: skip
        return
    if args.drafting is None or args.alignment is None:
        parser.error("--drafting and --alignment are needed (or --fake-target)")
    tmp = Path(tempfile.mkdtemp(prefix="fleet-load-"))
    half = args.devices // 2
    fleet = {
        "schema_version": 1, "alignment": str(args.alignment.resolve()),
        "groups": [
            {"name": "near", "drafting": str(args.drafting.resolve()),
             "draft": "qwen2.5-coder-0.5b", "quant": "Q4_K_M", "policy": {"k_max": 4},
             "count": args.devices - half, "network": {"rtt_ms": 20},
             "arrival": {"kind": "closed", "think_s": args.think_s}},
            {"name": "far", "drafting": str(args.drafting.resolve()),
             "draft": "qwen2.5-coder-0.5b", "quant": "Q8_0", "policy": {"k_max": 2},
             "count": half, "network": {"rtt_ms": 80, "bandwidth_mbit_s": 5},
             "arrival": {"kind": "closed", "think_s": args.think_s}},
        ],
    }  # fmt: skip
    path = tmp / "fleet.yaml"
    path.write_text(yaml.safe_dump(fleet, sort_keys=False))
    out = tmp / "fleet.json"
    with LocalServer(tmp / "server", models=args.models, max_sessions=min(256, args.devices),
                     ctx=320, prefill_chunk=64, cpus=SERVER_CPU) as server:  # fmt: skip
        subprocess.run(["taskset", "-c", EMULATOR_CPU, sys.executable, "-m", "configspec",
                        "fleet", "--fleet", str(path), "--models", str(args.models), "--server",
                        server.address, "--duration", str(args.duration), "--warmup",
                        str(args.warmup), "--out", str(out)], check=True)  # fmt: skip
    report(load_profile(out, FleetProfile), args.devices, args.duration, args.warmup)
    print(f"profile: {out}")


if __name__ == "__main__":
    main()
