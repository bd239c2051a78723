"""Does the analytic model predict the real edge-server loop? Target: within 10% for every cell.

A real `configspec serve` (the demo target, 1 thread, pinned to CPU 0) and a real edge in this
process (the demo draft, 1 thread, pinned to CPU 1: `configspec edge`'s own RemoteVerifier,
relay and decoder) run greedy speculative decoding over gRPC on loopback, for fixed K = 1, 2,
4, 8 and a confidence-threshold policy, with emulated round-trip delays of 0, 20 and 50 ms (the
edge's relay). The model's inputs are measured the way the profiles measure them, separately
from the runs and next to each of them (as model_vs_decoder.py does, so that the drift of a
shared VM over minutes is not counted as the model's error):
  - tokens, drafts per round and P(all drafted accepted): walking the draft's teacher-forced
    greedy match and confidence traces over the target's own greedy continuation of the same
    prompts (the alignment profile's walk);
  - draft step time: timed single-token decode calls at the prompts' mean context (the
    drafting profile's method), in this process on CPU 1;
  - verification latency t_v(D), D = 0..K: one target call over D + 1 tokens on a warm cache,
    by a worker process holding the target on CPU 0 (the verification profile's method) while
    the server is idle, averaged over the walk's rounds by their D;
  - the real system's per-round terms, from one calibration run (K = 2, no added delay): the
    loopback transport (relay, gRPC, protobuf) as the base round trip, the server's queue wait
    and its overhead outside the forward call, and the edge's bookkeeping (docs/model.md).
The timing inputs are measured before each cell's first prompt and after each of its prompts.
The prediction is configspec.analytic.evaluate on those inputs. It is made twice: with the walk
over the target's single-token greedy continuation (what `configspec align` measures), and with
the walk over the text each run committed. They differ because the server verifies K + 1 tokens in
one call, whose rounding differs from single-token calls: a flipped argmax sends the run's text
away from the continuation, and a few prompts x 48 tokens then accept differently (the line under
the table counts the runs it happened to). The second isolates the timing model. Over 3 prompts
the flipped texts moved tokens per round by up to 15%; over the default 8 prompts, by up to 6%
(docs/serving.md). About 50 min at the defaults on a 2-core VM.

    python benchmarks/e2e_vs_model.py [--prompts 8] [--new-tokens 48] [--passes 1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_loop import (  # noqa: E402
    label,
    ms_columns,
    open_loop,
    overhead_s,
    own_text_walk,
    predict,
    print_verdicts,
    round_terms,
    walk,
)

KS = (1, 2, 4, 8)
TAU = (8, 0.5)  # K max, threshold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--delays-ms", default="0,20,50")
    parser.add_argument("--passes", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    delays = [float(d) / 1000 for d in args.delays_ms.split(",")]
    policies = [(k, None) for k in KS] + [TAU]
    loop = open_loop(args.prompts, args.new_tokens)
    try:
        calib = loop.run((2, None), 0.0, args.new_tokens)
        extra = round_terms(calib)
        print("calibration (K=2, no added delay), per round: " + ", ".join(
            f"{k} {1e3 * v:.2f} ms" for k, v in extra.items()), flush=True)  # fmt: skip

        cells = [(p, d) for d in delays for p in policies]
        runs: dict = {c: [] for c in cells}
        timing: dict = {c: [] for c in cells}
        rng = np.random.default_rng(args.seed)
        for n in range(args.passes):
            for done, i in enumerate(rng.permutation(len(cells)), 1):
                policy, delay = cells[i]
                results, measured = loop.measure(policy, delay, args.new_tokens)
                runs[cells[i]] += results
                timing[cells[i]] += measured
                tok_s = sum(len(r.tokens) for r in results) / sum(r.decode_s for r in results)
                print(f"  pass {n + 1}, cell {done}/{len(cells)}: {label(policy)} "
                      f"{1e3 * delay:.0f} ms: {tok_s:.2f} tok/s", flush=True)  # fmt: skip
            print(f"pass {n + 1}/{args.passes} done", flush=True)
    finally:
        loop.close()

    steps = [t.step_s for c in cells for t in timing[c]]
    print(f"draft step over all measurements: {1e3 * min(steps):.1f}-{1e3 * max(steps):.1f} ms")
    print(f"\n{'policy':<13} {'delay':>5} {'measured':>9} {'predicted':>10} {'error':>7} "
          f"{'own text':>9} {'error':>7}   {'tok/round meas/walk/own':>23}   per round ms, "
          f"measured (predicted): draft / wire / verify / other")  # fmt: skip
    errors, own_errors = [], []
    base_overhead = overhead_s(extra)
    for policy, delay in cells:
        results = runs[(policy, delay)]
        tokens = sum(len(r.tokens) for r in results)
        measured = tokens / sum(r.decode_s for r in results)
        n_rounds = sum(len(r.rounds) for r in results)
        counts = walk(loop.tr, policy)
        prediction = predict(counts, policy, timing[(policy, delay)], extra, delay)
        m, verify_d, tpr = prediction.metrics, prediction.verify_s, counts.tokens_per_round
        predicted = float(m.goodput_tok_s[0])
        err = predicted / measured - 1
        errors.append(abs(err))
        own = own_text_walk(loop, results, policy)
        own_predicted = float(predict(own, policy, timing[(policy, delay)], extra,
                                      delay).metrics.goodput_tok_s[0])  # fmt: skip
        own_err = own_predicted / measured - 1
        own_errors.append(abs(own_err))
        rounds = [r for res in results for r in res.rounds]
        columns = ms_columns(rounds, [("draft_s", float(m.draft_s[0])), ("net_s", float(m.net_s[0])),
                                      ("verify_s", verify_d), ("other_s", base_overhead)])  # fmt: skip
        print(f"{label(policy):<13} {1e3 * delay:>5.0f} {measured:>9.2f} {predicted:>10.2f} "
              f"{err:>+7.1%} {own_predicted:>9.2f} {own_err:>+7.1%}   "
              f"{tokens / n_rounds:>7.2f}/{tpr:.2f}/{own.tokens_per_round:<9.2f}   "
              f"{columns}")  # fmt: skip
    print_verdicts(loop, [r for c in cells for r in runs[c]], errors, own_errors)


if __name__ == "__main__":
    main()
