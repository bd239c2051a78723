"""Does the analytic model predict the real speculative decoder? Target: within 10%.

On this machine, draft (qwen2.5-coder-0.5b) and target (qwen2.5-coder-1.5b) both local, the real
decoder (configspec/speculative/decoder.py) runs greedy speculative decoding with the network's
RTT injected as a sleep between drafting and verification. The model's inputs are measured here
the way the profiles measure them, separately from the decoder runs:
  - tokens and drafts per round, and P(all K accepted): walking the teacher-forced greedy match
    trace of the draft over the target's own greedy continuation (the alignment profile's walk);
  - draft step time: timed single-token decode calls at the prompts' mean context (drafting
    profile's method);
  - verification latency at K: one target call over K + 1 tokens with all logits, warm cache,
    rolled back between repetitions (verification profile's method).
The prediction is configspec.analytic.evaluate on those inputs (network: RTT only, no bandwidth
limit; overhead 0). A second prediction adds the decoder's per-round bookkeeping (its `other_s`:
acceptance, rollback) measured in a separate calibration run at K = 2 (docs/model.md, "Round":
the decoder's bookkeeping) - the scenario's `overhead_ms_per_round`.

The timing inputs are measured next to each decoder run, just before and just after it, and the
cells run in a new random order on each of `--repeats` passes. On a shared VM the speed of the
same call drifts by half over minutes (the script prints the range of the draft step it saw);
measuring the inputs once at the start and the decoder minutes later counted that drift as the
model's error (-16% to +15% at RTT 0 in one such run). Pairing them in time measures the model.
About 15 minutes with the defaults on 2 cores.

    python benchmarks/model_vs_decoder.py [--new-tokens 64] [--threads 2] [--ks 1,2,4,8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from configspec.alignment.walk import greedy_walk
from configspec.analytic.evaluate import DeviceTerms, RoundInputs, evaluate
from configspec.profiling.drafting import timed_decode
from configspec.registry import load_registry
from configspec.runners.llama_cpp import LlamaCppRunner
from configspec.sources.resolve import model_file
from configspec.speculative.decoder import DecodeConfig, SpeculativeDecoder, target_only

PROMPTS = [
    'def merge_sort(values):\n    """Sort a list with merge sort and return a new list."""\n',
    "Explain in three sentences why the sky is blue.\n",
]


def walk_with_full_acceptance(matches: np.ndarray, k: int) -> tuple[float, float, float]:
    """(tokens/round, drafted/round, P(all drafted accepted)) of the greedy walk (docs/alignment.md)."""
    n, s = len(matches), 0
    rounds = drafted = tokens = full = 0
    while s < n:
        d = min(k, n - 1 - s)
        a = 0
        while a < d and matches[s + a]:
            a += 1
        rounds, drafted, tokens = rounds + 1, drafted + d, tokens + a + 1
        full += a == d and d > 0
        s += a + 1
    counts = greedy_walk(matches, k)  # the alignment module's walk must agree
    assert abs(counts.tokens_per_round - tokens / rounds) < 1e-9
    return tokens / rounds, drafted / rounds, full / rounds


def match_trace(draft: LlamaCppRunner, prompt: list[int], continuation: list[int]) -> np.ndarray:
    """m_t = 1 when the draft's argmax, teacher-forced on prompt + continuation[:t], is token t."""
    draft.reset()
    rows = draft.forward(prompt + continuation[:-1], all_logits=True)
    start = len(prompt) - 1
    predicted = np.argmax(np.asarray(rows)[start:], axis=1)
    return predicted == np.asarray(continuation)


def draft_step_s(draft: LlamaCppRunner, context: list[int], n: int = 32) -> float:
    draft.reset()
    draft.forward(context[:-1])
    timed_decode(draft, context[-1], 4)  # warm-up
    draft.rollback(len(context) - 1)
    return statistics.mean(timed_decode(draft, context[-1], n))


def verify_latency_s(target: LlamaCppRunner, context: list[int], k: int, reps: int = 3) -> float:
    target.reset()
    target.forward(context)
    tokens = context[-(k + 1) :]  # any k + 1 tokens: the cost does not depend on their identity
    samples = []
    for i in range(reps + 1):
        t0 = time.perf_counter()
        target.forward(tokens, all_logits=True)
        if i:  # the first call is a warm-up
            samples.append(time.perf_counter() - t0)
        target.rollback(len(context))
    return statistics.mean(samples)


def terms(rtt_s: float, overhead_s: float) -> DeviceTerms:
    return DeviceTerms(
        mode="greedy", rtt_s=rtt_s, up_bit_s=1e15, down_bit_s=1e15, idle_w=0.0,
        overhead_s=overhead_s, batch=1, server_usd_per_hour=0.0, purchase_usd=0.0,
        lifetime_h=1.0, utilisation=1.0, usd_per_kwh=0.0, token_id_bytes=4, prob_bytes=2,
        vocab_size=151936, top_n=None, header_bytes=0,
    )  # fmt: skip


def measure_inputs(draft, target, context: list[int], ks: list[int]) -> tuple[float, dict]:
    """(draft step s, {K: verification s}) by the profiles' methods, measured now."""
    return draft_step_s(draft, context, n=16), {
        k: verify_latency_s(target, context, k, 2) for k in ks
    }


def mean_inputs(samples: list[tuple[float, dict]]) -> tuple[float, dict]:
    steps = [s for s, _ in samples]
    return statistics.mean(steps), {
        k: statistics.mean(v[k] for _, v in samples) for k in samples[0][1]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ks", default="1,2,4,8")
    parser.add_argument("--rtts-ms", default="0,20")
    parser.add_argument(
        "--repeats", type=int, default=3, help="passes over the cells, each in a new random order"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ks = [int(k) for k in args.ks.split(",")]
    rtts = [float(r) / 1000 for r in args.rtts_ms.split(",")]

    registry = load_registry()
    draft_path = model_file(registry.get("qwen2.5-coder-0.5b"), "Q4_K_M")
    target_path = model_file(registry.get("qwen2.5-coder-1.5b"), "Q4_K_M")
    n_ctx = 512
    draft = LlamaCppRunner(draft_path, threads=args.threads, n_ctx=n_ctx)
    target = LlamaCppRunner(target_path, threads=args.threads, n_ctx=n_ctx)
    prompts = [target.tokenize(p) for p in PROMPTS]

    # ---- acceptance inputs: the alignment profile's walk over the greedy match traces -------
    continuations = [target_only(target, p, args.new_tokens) for p in prompts]
    traces = [match_trace(draft, p, c) for p, c in zip(prompts, continuations, strict=True)]
    matches = np.concatenate(traces)
    mean_ctx = int(np.mean([len(p) for p in prompts])) + args.new_tokens // 2
    context = (prompts[0] + continuations[0])[:mean_ctx]
    print(f"greedy match rate {matches.mean():.2f} over {len(matches)} positions; timing inputs "
          f"at context {mean_ctx}")  # fmt: skip

    decoder = SpeculativeDecoder(draft, target)
    calib = [decoder.generate(p, DecodeConfig(k=2, max_new_tokens=args.new_tokens))
             for p in prompts]  # fmt: skip
    overhead_s = statistics.median(r.other_s for res in calib for r in res.rounds)
    print(f"decoder bookkeeping per round (calibration run, K=2): {overhead_s * 1e3:.2f} ms")

    # ---- timing inputs measured next to each decoder run (before and after it), so that the
    # drift of a shared machine's speed over minutes is not counted as the model's error -------
    cells = [(rtt, k) for rtt in rtts for k in ks]
    runs: dict = {c: [] for c in cells}
    timing: dict = {c: [] for c in cells}
    order_rng = np.random.default_rng(args.seed)
    for rep in range(args.repeats):
        for i in order_rng.permutation(len(cells)):
            rtt, k = cells[i]
            timing[(rtt, k)].append(measure_inputs(draft, target, context, ks))
            runs[(rtt, k)] += [decoder.generate(p, DecodeConfig(k=k, rtt_s=rtt,
                                                                max_new_tokens=args.new_tokens))
                               for p in prompts]  # fmt: skip
            timing[(rtt, k)].append(measure_inputs(draft, target, context, ks))
        print(f"pass {rep + 1}/{args.repeats} done", flush=True)
    all_steps = [s for c in cells for s, _ in timing[c]]
    print(f"draft step over all measurements: {min(all_steps) * 1e3:.1f}-{max(all_steps) * 1e3:.1f} "
          f"ms (the machine's drift)")  # fmt: skip

    print(f"{'K':>3} {'RTT ms':>7} {'measured tok/s':>15} {'predicted':>10} {'error':>7} "
          f"{'pred.+overhead':>15} {'error':>7}   tokens/round meas/pred   "
          f"per round draft/verify ms meas (pred)")  # fmt: skip
    errors, errors_overhead = [], []
    for rtt, k in cells:
        results = runs[(rtt, k)]
        step_s, verify = mean_inputs(timing[(rtt, k)])
        tokens = sum(len(r.tokens) for r in results)
        measured = tokens / sum(r.decode_s for r in results)
        n_rounds = sum(len(r.rounds) for r in results)
        measured_tpr = tokens / n_rounds
        per_prompt = [walk_with_full_acceptance(t, k) for t in traces]
        # pool prompts by rounds, as one long run would
        rounds = [len(t) / tpr for t, (tpr, _, _) in zip(traces, per_prompt, strict=True)]
        w = np.asarray(rounds) / sum(rounds)
        tpr = float(np.dot(w, [x[0] for x in per_prompt]))
        drafted = float(np.dot(w, [x[1] for x in per_prompt]))
        p_full = float(np.dot(w, [x[2] for x in per_prompt]))
        verify_k = float(np.interp(drafted, ks, [verify[x] for x in ks]))
        inputs = RoundInputs(
            drafted=np.array([drafted]), extra_steps=np.array([p_full]),
            tokens=np.array([tpr]), step_s=np.array([step_s]), draft_w=np.zeros(1),
            verify_s=np.array([verify_k]), verify_j=np.zeros(1),
        )  # fmt: skip
        predicted = float(evaluate(inputs, terms(rtt, 0.0)).goodput_tok_s[0])
        predicted_o = float(evaluate(inputs, terms(rtt, overhead_s)).goodput_tok_s[0])
        err, err_o = predicted / measured - 1, predicted_o / measured - 1
        errors.append(abs(err))
        errors_overhead.append(abs(err_o))
        draft_ms = 1e3 * sum(x.draft_s for r in results for x in r.rounds) / n_rounds
        verify_ms = 1e3 * sum(x.verify_s for r in results for x in r.rounds) / n_rounds
        print(f"{k:>3} {rtt * 1e3:>7.0f} {measured:>15.2f} {predicted:>10.2f} {err:>+7.1%} "
              f"{predicted_o:>15.2f} {err_o:>+7.1%}   {measured_tpr:.2f}/{tpr:.2f}"
              f"   {draft_ms:.0f} ({(drafted + p_full) * step_s * 1e3:.0f}) / {verify_ms:.0f} "
              f"({verify_k * 1e3:.0f})")  # fmt: skip
    print(f"mean |error| {np.mean(errors):.1%} (max {np.max(errors):.1%}); with the measured "
          f"overhead {np.mean(errors_overhead):.1%} (max {np.max(errors_overhead):.1%}); "
          f"target: within 10%")  # fmt: skip


if __name__ == "__main__":
    main()
