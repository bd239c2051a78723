"""Does a verification call cost more when the server holds other sessions' caches?

`configspec serve` keeps every session in one unified KV buffer (llama.cpp's kv_unified, as
llama-server does), so sequences of different lengths share one forward call. The
verify-latency profile times each batch in its own streams, without other sessions present.
This times one call of T tokens (at context 200) while 16, 8, 4 and 0 other sessions of 200
tokens each sit in the same buffer (filled once, then freed in steps: prefilling is the slow
part), --reps calls each, medians: the demo target, 1 thread, pinned to one CPU, as the fleet
benchmark's server runs.

    python benchmarks/kv_occupancy.py [--reps 5] [--cpu 0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

from configspec.registry import load_registry
from configspec.runners.base import SequenceTokens
from configspec.runners.llama_cpp import LlamaCppRunner
from configspec.sources.resolve import model_file

TARGET, QUANT = "qwen2.5-coder-1.5b", "Q4_K_M"
CONTEXT = 200
TOKENS = (1, 4, 16, 32)
OTHERS = (0, 4, 8, 16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--cpu", type=int, default=0)
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.cpu})
    path = model_file(load_registry(Path("models.yaml")).get(TARGET), QUANT)
    target = LlamaCppRunner(path, threads=1, n_ctx=CONTEXT + max(TOKENS))
    target.open_sequences(1 + max(OTHERS), CONTEXT + max(TOKENS))
    context = [int(t) for t in np.random.default_rng(0).integers(100, 5000, CONTEXT)]
    target.decode_sequences([SequenceTokens(0, 0, context, None)])
    for s in range(1, 1 + max(OTHERS)):
        target.decode_sequences([SequenceTokens(s, 0, context, None)])
    times: dict[tuple[int, int], list[float]] = {}
    for others in sorted(OTHERS, reverse=True):
        for s in range(1 + others, 1 + max(OTHERS)):
            target.forget(s, 0)
        for _ in range(args.reps):
            for n in TOKENS:
                t0 = time.perf_counter()
                target.decode_sequences([SequenceTokens(0, CONTEXT, context[:n], 0)])
                times.setdefault((others, n), []).append(time.perf_counter() - t0)
                target.forget(0, CONTEXT)
    print(f"{TARGET} {QUANT}, 1 thread on CPU {args.cpu}; one call of T tokens at context "
          f"{CONTEXT}, other sessions of {CONTEXT} tokens in the same KV buffer; "
          f"median of {args.reps}")  # fmt: skip
    print(f"{'other sessions':>14} " + " ".join(f"{f'T={n} ms':>14}" for n in TOKENS))
    for others in OTHERS:
        cells = []
        for n in TOKENS:
            ms = 1e3 * statistics.median(times[(others, n)])
            base = 1e3 * statistics.median(times[(0, n)])
            cells.append(f"{ms:>6.0f} ({ms / base - 1:+4.0%})")
        print(f"{others:>14} " + " ".join(f"{c:>14}" for c in cells))


if __name__ == "__main__":
    main()
