"""Is the emulator the bottleneck? A fleet of many emulated devices (default 200) for a short
span against a real `configspec serve` (1 thread, CPU 0), the emulator on CPU 1: its own CPU
share (load generator + relays, in cores) and how late the devices' drafting waits woke (p50 /
p99 of waited - sampled: an emulator short of CPU wakes late). The server, one CPU core
verifying for every device, is meant to be the limit.

    python benchmarks/fleet_emulator_load.py --drafting D.json --alignment A.json \
        [--devices 200] [--duration 60] [--warmup 20]

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drafting", type=Path, required=True)
    parser.add_argument("--alignment", type=Path, required=True)
    parser.add_argument("--models", type=Path, default=Path("models.yaml"))
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=20.0)
    parser.add_argument("--think-s", type=float, default=2.0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fleet-load-"))
    half = args.devices // 2
    fleet = {
        "schema_version": 1, "alignment": str(args.alignment.resolve()),
        "groups": [
            {"name": "near", "drafting": str(args.drafting.resolve()),
             "draft": "qwen2.5-coder-0.5b", "quant": "Q4_K_M", "policy": {"k": 4},
             "count": args.devices - half, "network": {"rtt_ms": 20},
             "arrival": {"kind": "closed", "think_s": args.think_s}},
            {"name": "far", "drafting": str(args.drafting.resolve()),
             "draft": "qwen2.5-coder-0.5b", "quant": "Q8_0", "policy": {"k": 2},
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
    p = load_profile(out, FleetProfile)
    em = p.emulator
    sessions = sum(sum(g.sessions.values()) for g in p.groups)
    print(f"\n{args.devices} emulated devices, {args.warmup:g} s warm-up + {args.duration:g} s: "
          f"{p.rounds_checked} rounds, {sessions} sessions ended, server "
          f"{p.server.verified_tokens_per_s:.2f} verified tok/s at utilisation "
          f"{p.server.utilisation:.0%}, mean batch {p.server.batch_size_mean:.2f}\n"
          f"emulator CPU: {em.cpu_s:.1f} s over {em.wall_s:.0f} s = {em.cores:.1%} of one core "
          f"(load generator {em.loadgen_cpu_s:.1f} s, relays {em.relay_cpu_s:.1f} s); drafting "
          f"waits late by p50 {1e3 * em.drafting_lag_s.get('p50', 0):.1f} ms, p99 "
          f"{1e3 * em.drafting_lag_s.get('p99', 0):.1f} ms; profile {out}")  # fmt: skip


if __name__ == "__main__":
    main()
