"""Does a verification call cost more when the server holds other sessions' caches, and is that
cost what one sequence at the same number of cells costs?

`configspec serve` keeps every session in one unified KV buffer (llama.cpp's kv_unified, as
llama-server does), so sequences of different lengths share one forward call. A call's attention
then reads every cell of the buffer up to the highest one in use (llama.cpp's
llama_kv_cache::get_n_kv), so the fleet model prices a call at the context all sessions hold
together (docs/model.md). This checks that rule: one call of T tokens on a session at context
200 while 0, 8 and 16 other sessions of 200 tokens sit in the same buffer, against one sequence
alone at the same total cells (200, 1800, 3400). Every case is its own context, prefilled once
(2 threads), then timed on one CPU with 1 thread, as the fleet benchmark's server runs; the cases
are interleaved in a shuffled order per repetition, so the machine's drift over minutes falls on
all of them alike. Medians of --reps calls.

    python benchmarks/kv_occupancy.py [--reps 6] [--cpu 0]

Run time: about 4 min of prefill (12,400 tokens) and 2 min of calls on a 2-core Xeon.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import llama_cpp
import numpy as np

from configspec.registry import load_registry
from configspec.runners.base import SequenceTokens
from configspec.runners.llama_cpp import LlamaCppRunner
from configspec.sources.resolve import model_file

TARGET, QUANT = "qwen2.5-coder-1.5b", "Q4_K_M"
CONTEXT = 200  # each session's cells
OTHERS = (0, 8, 16)
TOKENS = (1, 5, 16)
PREFILL_THREADS = 2


def shared_buffer(path: Path, others: int, text: list[int]) -> Callable[[int], None]:
    """A unified buffer holding session 0 and `others` more, each at CONTEXT; a call appends T
    tokens to session 0 and drops them again."""
    runner = LlamaCppRunner(path, threads=PREFILL_THREADS, n_ctx=CONTEXT + max(TOKENS))
    runner.open_sequences(1 + max(OTHERS), CONTEXT + max(TOKENS))
    for s in range(1 + others):
        runner.decode_sequences([SequenceTokens(s, 0, text[s * CONTEXT : (s + 1) * CONTEXT], None)])
    llama_cpp.llama_set_n_threads(runner.ctx, 1, 1)
    probe = text[-max(TOKENS) :]

    def call(n: int) -> None:
        runner.decode_sequences([SequenceTokens(0, CONTEXT, probe[:n], 0)])
        runner.forget(0, CONTEXT)

    return call


def one_sequence(path: Path, cells: int, text: list[int]) -> Callable[[int], None]:
    """One sequence alone at `cells` positions; a call appends T tokens and rolls them back."""
    runner = LlamaCppRunner(path, threads=PREFILL_THREADS, n_ctx=cells + max(TOKENS))
    runner.forward(text[:cells])
    llama_cpp.llama_set_n_threads(runner.ctx, 1, 1)
    probe = text[-max(TOKENS) :]

    def call(n: int) -> None:
        runner.forward_batch([probe[:n]], all_logits=True)
        runner.rollback(cells)

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=6)
    parser.add_argument("--cpu", type=int, default=0)
    args = parser.parse_args()
    path = model_file(load_registry(Path("models.yaml")).get(TARGET), QUANT)
    cells = [CONTEXT * (1 + n) for n in OTHERS]
    text = [int(t) for t in np.random.default_rng(0).integers(100, 5000, max(cells) + 64)]
    started = time.monotonic()
    cases: dict[str, Callable[[int], None]] = {}
    for n, c in zip(OTHERS, cells, strict=True):
        cases[f"shared, {n} others ({c} cells)"] = shared_buffer(path, n, text)
        cases[f"one sequence at {c}"] = one_sequence(path, c, text)
    print(f"prefilled in {time.monotonic() - started:.0f} s", flush=True)
    os.sched_setaffinity(0, {args.cpu})
    times: dict[tuple[str, int], list[float]] = {}
    order = random.Random(0)
    for _ in range(args.reps):
        for n in TOKENS:
            names = list(cases)
            order.shuffle(names)
            for name in names:
                t0 = time.perf_counter()
                cases[name](n)
                times.setdefault((name, n), []).append(time.perf_counter() - t0)
    base = {n: statistics.median(times[(f"one sequence at {CONTEXT}", n)]) for n in TOKENS}
    print(f"{TARGET} {QUANT}, 1 thread on CPU {args.cpu}; one call of T tokens; median of "
          f"{args.reps}, interleaved; (vs one sequence at {CONTEXT})")  # fmt: skip
    print(f"{'case':<34} " + " ".join(f"{f'T={n}':>16}" for n in TOKENS))
    for name in cases:
        row = []
        for n in TOKENS:
            ms = 1e3 * statistics.median(times[(name, n)])
            row.append(f"{ms:>6.0f} ms ({ms / 1e3 / base[n] - 1:+4.0%})")
        print(f"{name:<34} " + " ".join(f"{c:>16}" for c in row))


if __name__ == "__main__":
    main()
