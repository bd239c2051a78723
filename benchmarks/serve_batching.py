"""Batching across sessions, measured: 1, 2 and 4 concurrent `configspec edge` processes against
one `configspec serve`, and what the verify-latency profile's t_v(K, B) predicts for the batches
that actually formed. Target: within 15%.

How the 2 cores are shared: the server (1 thread) is pinned to CPU 0 and every edge (1 thread
each) to CPU 1, so the edges take turns on one core while the server verifies on the other. Each
edge runs greedy K=4 on its own prompts. Before each serving run, `configspec verify-latency`
(1 thread, CPU 0, K 0-8, batch 1..N, contexts 128, 512 and 1024, 3 passes over the grid so the
machine's drift spreads over every point) measures t_v(K, B) the way the verification profile
always does (equal-length sequences sharing a prefix). For every batch the server verified
(without a prefill chunk in it), the prediction is t_v at its tokens per sequence - 1, its size
and the cells every open session held (the server keeps them in one KV buffer and a call's
attention reads all of it, docs/model.md; a server that did not record them: the batch's mean
context); the server's verified tokens per second of forward time is compared with the same
tokens over the predicted time. About 15 minutes.

    python benchmarks/serve_batching.py [--sessions 1,2,4] [--k 4] [--window-ms 30]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_loop import EDGE_CPU, SERVER_CPU, TARGET, pinned, start_serve  # noqa: E402

from configspec.alignment.prompts import load_prompts  # noqa: E402
from configspec.analytic.inputs import verify_curve  # noqa: E402
from configspec.profiles.io import load_profile  # noqa: E402
from configspec.profiles.serving import ServingProfile  # noqa: E402
from configspec.profiles.verification import VerificationProfile  # noqa: E402


def verify_profile(tmp: Path, batches: int) -> VerificationProfile:
    out = tmp / f"verification-{batches}.json"
    subprocess.run(pinned("verify-latency", "--target", TARGET, "--threads", "1", "--ks",
                       "0,1,2,4,8", "--contexts", "128,512,1024", "--batch-sizes",
                       ",".join(str(b) for b in range(1, batches + 1)), "--repetitions", "3",
                       "--passes", "3",
                       "--device", "bench", "--out", str(out), cpu=SERVER_CPU),
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return load_profile(out, VerificationProfile)


def serve_run(tmp: Path, sessions: int, k: int, window_ms: float, new_tokens: int,
              prompts_per_edge: int) -> ServingProfile:  # fmt: skip
    port_file, out = tmp / f"port-{sessions}", tmp / f"serving-{sessions}.json"
    server, address = start_serve(
        port_file, "--model", TARGET, "--max-sessions", str(sessions), "--max-batch",
        str(sessions), "--batch-window-ms", str(window_ms), "--stop-after-sessions",
        str(sessions * prompts_per_edge), "--duration-s", "1800", "--out", str(out),
    )  # fmt: skip
    prompts = load_prompts()
    edges = []
    for i in range(sessions):  # each edge its own prompts, so the sessions do not run in step
        mine = tmp / f"prompts-{sessions}-{i}.jsonl"
        chosen = prompts[i * prompts_per_edge : (i + 1) * prompts_per_edge]
        mine.write_text("".join(p.model_dump_json() + "\n" for p in chosen))
        edges.append(subprocess.Popen(
            pinned("edge", "--server", address, "--threads", "1", "--k", str(k), "--prompts",
                str(mine), "--n-prompts", str(prompts_per_edge), "--max-new-tokens",
                str(new_tokens), "--out", str(tmp / f"e2e-{sessions}-{i}.json"), cpu=EDGE_CPU),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        ))  # fmt: skip
    for edge in edges:
        _, err = edge.communicate(timeout=1800)
        if edge.returncode != 0:
            raise SystemExit(f"an edge failed: {err[-2000:]}")
    server.wait(120)  # it stops by itself after the sessions
    return load_profile(out, ServingProfile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="1,2,4")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--window-ms", type=float, default=30.0)
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--prompts-per-edge", type=int, default=2)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="serve-batching-"))
    print(f"server: CPU {SERVER_CPU}, 1 thread; edges: all on CPU {EDGE_CPU}, 1 thread each; "
          f"greedy K={args.k}; batch window {args.window_ms:g} ms", flush=True)  # fmt: skip
    rows = []
    for n in (int(s) for s in args.sessions.split(",")):
        vl = verify_profile(tmp, n)
        serving = serve_run(tmp, n, args.k, args.window_ms, args.new_tokens, args.prompts_per_edge)
        curves = {b: verify_curve(vl, b) for b in range(1, n + 1)}
        batches = [b for b in serving.batches if b.rounds and not b.prefill_tokens]
        measured_s = sum(b.verify_s for b in batches)
        predicted_s = sum(
            float(
                curves[b.rounds].latency(
                    b.tokens / b.rounds - 1, b.held_tokens or int(b.context_tokens)
                )
            )
            for b in batches
        )
        tokens = sum(b.verified_tokens for b in batches)
        sizes = Counter(b.rounds for b in batches)
        rows.append((n, dict(sorted(sizes.items())), serving.verified_tokens_per_s,
                     tokens / measured_s, tokens / predicted_s, len(serving.batches) - len(batches)))  # fmt: skip
        print(f"{n} session(s) done: {json.dumps(dict(sizes))}", flush=True)
    print(f"\n{'edges':>5} {'batch sizes (count)':<26} {'server tok/s':>12} "
          f"{'tok/s of forward time: measured':>32} {'predicted':>10} {'error':>7}")  # fmt: skip
    worst = 0.0
    for n, sizes, wall_rate, measured, predicted, mixed in rows:
        err = predicted / measured - 1
        worst = max(worst, abs(err))
        print(f"{n:>5} {json.dumps(sizes):<26} {wall_rate:>12.2f} {measured:>32.2f} "
              f"{predicted:>10.2f} {err:>+7.1%}"
              + (f"  ({mixed} calls with a prefill chunk left out)" if mixed else ""))  # fmt: skip
    print(f"worst error {worst:.1%}: {'PASS' if worst <= 0.15 else 'FAIL'} (target: within 15%); "
          f"server tok/s is verified tokens over the span the server was verifying")  # fmt: skip


if __name__ == "__main__":
    main()
