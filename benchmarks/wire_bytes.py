"""Bytes on the wire per round, measured against the model's payload formula (docs/model.md).

A real `configspec serve` (the demo target, 1 thread, CPU 0) and real `configspec edge` runs (the
demo draft, 1 thread, CPU 1) on loopback, in greedy mode at K = 1, 4, 8 and in sampled mode with
the draft's q sent dense (float16 over the whole vocabulary) and as top-n pairs. The edge's relay
counts each round's bytes at the transport (TCP payload each way); its e2e profile records them
with the round's drafted count D. Against each round: `formulas.upload_bytes(D, ...)` up and
`formulas.download_bytes(...)` down, with configspec's protocol constants (4-byte ids, 2-byte
probabilities, header 48, verdict 34, HTTP/2 window 65535). Each case also prints how many rounds
got each count of bytes down. Target: the mean per round within 10%, each way.

    python benchmarks/wire_bytes.py [--prompts 2] [--tokens 24] [--cases greedy:1,...]

A case is MODE:K or sampled:K:TOP_N (top-n 0: dense).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_loop import DRAFT, EDGE_CPU, QUANT, TARGET, pinned, start_serve  # noqa: E402

from configspec.analytic import formulas as f  # noqa: E402
from configspec.analytic.scenario import Payload  # noqa: E402
from configspec.fleet.predict import HEADER_BYTES, ID_BYTES, VERDICT_BYTES  # noqa: E402
from configspec.registry import load_registry  # noqa: E402
from configspec.runners.llama_cpp import LlamaCppRunner  # noqa: E402
from configspec.sources.resolve import model_file  # noqa: E402

PROB_BYTES = 2  # float16
FLOW_WINDOW_BYTES = Payload().flow_window_bytes  # gRPC's HTTP/2 window
TARGET_ERROR = 0.10
DEFAULT_CASES = "greedy:1,greedy:4,greedy:8,sampled:1:0,sampled:4:0,sampled:4:64,sampled:4:1024"


def parse_case(text: str) -> tuple[str, int, int | None]:
    parts = text.split(":")
    if parts[0] == "greedy" and len(parts) == 2:
        return "greedy", int(parts[1]), None
    if parts[0] == "sampled" and len(parts) == 3:
        return "sampled", int(parts[1]), int(parts[2]) or None
    raise SystemExit(f"a case is greedy:K or sampled:K:TOP_N, not {text!r}")


def run_edge(server: str, out: Path, mode: str, k: int, top_n: int | None, prompts: int,
             tokens: int) -> dict:  # fmt: skip
    sampling = ["--mode", "sampled", "--temperature", "0.7"] if mode == "sampled" else []
    if top_n:
        sampling += ["--top-n", str(top_n)]
    done = subprocess.run(
        pinned("edge", "--server", server, "--draft", DRAFT, "--quant", QUANT, "--k", str(k),
               *sampling, "--n-prompts", str(prompts), "--max-new-tokens", str(tokens),
               "--threads", "1", "--device", "bench", "--out", str(out), cpu=EDGE_CPU),
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"configspec edge failed ({done.returncode}): {done.stderr[-1500:]}")
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=24)
    parser.add_argument("--cases", default=DEFAULT_CASES)
    args = parser.parse_args()
    cases = [parse_case(c) for c in args.cases.split(",")]
    registry = load_registry(Path("models.yaml"))
    draft_path = model_file(registry.get(DRAFT), QUANT)
    n_vocab = LlamaCppRunner(draft_path, threads=1, vocab_only=True).n_vocab
    print(f"{DRAFT} {QUANT} drafts (vocabulary {n_vocab}), {TARGET} {QUANT} verifies; "
          f"{args.prompts} prompts x {args.tokens} tokens per case; loopback, edge's relay counts")  # fmt: skip
    print(f"{'case':<18} {'rounds':>6} {'D/round':>7} {'up B/round meas/pred':>24} {'err':>7} "
          f"{'down B/round meas/pred':>24} {'err':>7}")  # fmt: skip
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="wire-bytes-") as tmp:
        server, address = start_serve(Path(tmp) / "port", "--model", TARGET, "--quant", QUANT,
                                      "--max-sessions", "2", "--batch-window-ms", "0",
                                      "--duration-s", "3600",
                                      "--out", str(Path(tmp) / "serving.json"))  # fmt: skip
        try:
            for i, (mode, k, top_n) in enumerate(cases):
                profile = run_edge(address, Path(tmp) / f"e2e-{i}.json", mode, k, top_n,
                                   args.prompts, args.tokens)  # fmt: skip
                rounds = [r for p in profile["prompts"] for r in p["rounds"]]
                drafted = np.array([r["drafted"] for r in rounds], float)
                up = np.mean([r["bytes_up"] for r in rounds])
                down = np.mean([r["bytes_down"] for r in rounds])
                up_each = f.upload_bytes(drafted, mode, ID_BYTES, PROB_BYTES, n_vocab, top_n,
                                         HEADER_BYTES)  # fmt: skip
                up_pred = float(np.mean(up_each))
                down_pred = float(np.mean(f.download_bytes(HEADER_BYTES, VERDICT_BYTES, up_each,
                                                           FLOW_WINDOW_BYTES)))  # fmt: skip
                e_up, e_down = up_pred / up - 1, down_pred / down - 1
                worst = max(worst, abs(e_up), abs(e_down))
                label = f"{mode} K={k}" + (f" top-{top_n}" if top_n else "")
                label += " dense" if mode == "sampled" and not top_n else ""
                print(f"{label:<18} {len(rounds):>6} {drafted.mean():>7.2f} "
                      f"{up:>11.0f} / {up_pred:<10.0f} {e_up:>+7.1%} "
                      f"{down:>11.0f} / {down_pred:<10.0f} {e_down:>+7.1%}", flush=True)  # fmt: skip
                sizes = Counter(int(r["bytes_down"]) for r in rounds)
                print(f"{'':<18} down bytes per round: "
                      + ", ".join(f"{b} x{n}" for b, n in sorted(sizes.items())))  # fmt: skip
        finally:
            server.terminate()
            server.wait(30)
    verdict = "PASS" if worst <= TARGET_ERROR else "FAIL"
    print(f"largest error {worst:.1%}: {verdict} (target: within {TARGET_ERROR:.0%} each way)")


if __name__ == "__main__":
    main()
