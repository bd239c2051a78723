"""How much cheaper are the traces than the real decoder? (issue 3: must be >= 8x)

Traces: for each prompt the target writes its greedy continuation (one forward call per token),
the draft reads it teacher-forced in ONE call, and tokens per round for every K = 1..16 comes from
walking the match trace (alignment.walk.greedy_walk). Everything is timed, the one-off trace
production included. Decoder: the real speculative decoder runs once per K = 1..16 over the same
prompts (prefill included on both sides; model loading excluded on both sides: it is the same).
Both must give the same tokens per round (printed side by side).

    python benchmarks/trace_cost_ratio.py [--prompts 12] [--new-tokens 32] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from decoder_vs_traces import DRAFT, TARGET, open_pair  # the sibling script

from configspec.alignment.prompts import load_prompts, select_prompts
from configspec.alignment.sweep import chat_tokens
from configspec.alignment.traces import draft_logits, generate
from configspec.alignment.walk import greedy_walk, total
from configspec.speculative import DecodeConfig, SpeculativeDecoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=12)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--k-max", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    prompts = select_prompts(load_prompts(), args.prompts)
    ks = list(range(1, args.k_max + 1))
    draft, target = open_pair(args.threads, n_ctx=1024)
    stops = target.stop_tokens()
    clock = time.perf_counter
    try:
        prompt_tokens = [chat_tokens(target, p) for p in prompts]
        # --- traces: target continuation + one teacher-forced draft pass + walks for every K
        gen_s = draft_s = walk_s = 0.0
        matches = []
        for tokens in prompt_tokens:
            t0 = clock()
            cont = generate(target, tokens, args.new_tokens, 0.0, None, stops)
            t1 = clock()
            rows = draft_logits(draft, tokens, [cont.tokens])[0]
            matches.append(np.argmax(rows, axis=1) == cont.tokens)
            t2 = clock()
            gen_s += t1 - t0
            draft_s += t2 - t1
        t0 = clock()
        walked = {k: total(greedy_walk(m, k) for m in matches) for k in ks}
        walk_s = clock() - t0
        trace_s = gen_s + draft_s + walk_s
        # --- the real decoder, once per K
        decoder = SpeculativeDecoder(draft, target)
        decoder_s = {}
        decoded = {}
        for k in ks:
            t0 = clock()
            tokens_sum = rounds_sum = 0
            for tokens in prompt_tokens:
                result = decoder.generate(
                    tokens, DecodeConfig(k=k, max_new_tokens=args.new_tokens, stop_tokens=stops)
                )
                tokens_sum += len(result.tokens)
                rounds_sum += len(result.rounds)
            decoder_s[k] = clock() - t0
            decoded[k] = tokens_sum / rounds_sum
            print(f"K={k:>2}: decoder {decoder_s[k]:6.1f} s, tokens/round {decoded[k]:.3f} "
                  f"(trace walk {walked[k].tokens_per_round:.3f})", flush=True)  # fmt: skip
    finally:
        draft.close()
        target.close()
    n_tokens = int(sum(w.tokens for w in walked.values()) / len(ks))
    all_decoder_s = sum(decoder_s.values())
    ratio = all_decoder_s / trace_s
    print(f"\ndraft {DRAFT[0]} {DRAFT[1]}, target {TARGET[0]} {TARGET[1]}, llama.cpp, "
          f"{args.threads} threads; {len(prompts)} prompts, {n_tokens} continuation tokens")  # fmt: skip
    print(f"traces:  target continuations {gen_s:.1f} s + draft teacher-forced pass {draft_s:.1f} s"
          f" + walks for K=1..{args.k_max} {1e3 * walk_s:.1f} ms = {trace_s:.1f} s")  # fmt: skip
    print(f"decoder: K=1..{args.k_max}, once each = {all_decoder_s:.1f} s")
    same = sum(abs(decoded[k] - walked[k].tokens_per_round) < 1e-9 for k in ks)
    print(f"tokens per round equal for {same}/{len(ks)} K")
    print(f"cost ratio decoder / traces = {ratio:.1f}x ({'>= 8x: PASS' if ratio >= 8 else 'FAIL'})")
    raise SystemExit(0 if ratio >= 8 else 1)


if __name__ == "__main__":
    main()
