"""vLLM as the serving engine, measured on this machine: the server-only baseline, the verifier
backend's per-round cost, and acceptance measured two ways (issue 16).

One vLLM server (CPU build, loopback, stopped by pid) serves the target for all three parts:

  baseline    `configspec baseline-serve` logic against it for 1, 2, 4 concurrent closed-loop
              sessions (--sessions): verified tok/s, per-session tok/s, inter-token latency,
              TTFT, the share of the run vLLM had a request running, the mean batch it ran, and
              its processes' CPU time / (wall x threads).
  verify      one verification round (the last committed token + K drafts) through the vLLM
              Runner adapter at several context lengths (--contexts): its cost is a re-prefill
              of the whole context, so it grows with the context; beside it llama.cpp's own
              verification on a warm cache (what `configspec serve` does with llama.cpp), and
              the re-prefill model t(c) = a + b (c + K + 2) fitted to the vLLM points
              (docs/vllm.md).
  acceptance  greedy per-position acceptance of the draft two ways: configspec's teacher-forced
              trace against llama.cpp's target (alignment.walk over the target's own greedy
              continuation), and the real decoder verifying every round through vLLM's prompt
              logprobs. Position i: rounds that accepted i + 1 tokens / rounds that reached i
              (drafted it with all before it accepted). Both are binomial; the check is that
              their 95% Wilson intervals overlap at every position.

Run time: at `--sessions 1,2,4 --requests-per-session 1 --new-tokens 16 --contexts 64,256,512
--repetitions 2 --prompts 2 --acceptance-tokens 24` it took 28 minutes on a 2-core machine that
other jobs kept at a load average of 12-16 (vLLM's torch.compile start alone took ~10 minutes
there; 2-3 minutes on a quiet machine, less again once vLLM's compile cache in ~/.cache/vllm
is warm). The defaults do about three times that work. --enforce-eager starts sooner and runs
~2.5x slower.

    python benchmarks/vllm_engine.py [--parts baseline,verify,acceptance] [--model NAME]
        [--sessions 1,2,4] [--requests-per-session 2] [--new-tokens 32] [--contexts 64,256,512,1024]
        [--k 4] [--repetitions 3] [--prompts 6] [--acceptance-tokens 48] [--threads 2]
        [--enforce-eager] [--vllm-python PATH]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from configspec.alignment.prompts import load_prompts, select_prompts
from configspec.alignment.sweep import chat_tokens
from configspec.alignment.traces import draft_logits, generate
from configspec.registry import load_registry
from configspec.runners.base import SequenceTokens
from configspec.runners.llama_cpp import LlamaCppRunner
from configspec.sources.resolve import model_file
from configspec.speculative import DecodeConfig, SpeculativeDecoder
from configspec.vllm_backend.baseline import BaselineOptions, cpu_seconds, run_baseline
from configspec.vllm_backend.launch import VllmLaunch, VllmServer
from configspec.vllm_backend.prepare import vllm_model_folder
from configspec.vllm_backend.target import VllmTargetOptions, open_vllm_target, reference_tokenizer

DRAFT = ("qwen2.5-coder-0.5b", "Q4_K_M")


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (Wilson 1927)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def baseline_part(args, server: VllmServer, models: Path) -> None:
    rows = []
    for n in (int(s) for s in args.sessions.split(",")):
        out = Path(tempfile.mkdtemp(prefix="vllm-baseline-")) / "baseline.json"
        cpu0, t0 = cpu_seconds(server.pids()), time.perf_counter()
        profile, _ = run_baseline(BaselineOptions(
            models=models, target=args.model, n_prompts=n * args.requests_per_session,
            sessions=n, max_new_tokens=args.new_tokens, ignore_eos=True, threads=args.threads,
            n_ctx=args.ctx, vllm_url=server.url, device="bench", out=out,
        ))  # fmt: skip
        cpu = (cpu_seconds(server.pids()) - cpu0) / ((time.perf_counter() - t0) * args.threads)
        rows.append((n, profile, cpu))
    print(f"\nBASELINE: {args.model} served alone by vLLM, closed loop, {args.new_tokens} tokens "
          f"per request (ignore_eos), {args.requests_per_session} requests per session")  # fmt: skip
    print(f"{'sessions':>8} {'requests':>8} {'verified tok/s':>14} {'per session':>11} "
          f"{'ITL p50/p90/p99 ms':>20} {'TTFT ms':>8} {'busy':>5} {'batch':>5} {'CPU':>5}")  # fmt: skip
    for n, p, cpu in rows:
        itl = "/".join(
            f"{1e3 * p.inter_token_latency_s.get(q, 0):.0f}" for q in ("p50", "p90", "p99")
        )
        rate = p.per_session_tokens_per_s.mean if p.per_session_tokens_per_s else 0.0
        print(f"{n:>8} {p.settings.n_requests:>8} {p.verified_tokens_per_s:>14.2f} {rate:>11.2f} "
              f"{itl:>20} {1e3 * p.ttft_s.mean:>8.0f} {p.busy_fraction:>5.0%} "
              f"{p.mean_running:>5.2f} {cpu:>5.0%}")  # fmt: skip
    print("busy: share of the run vLLM's running gauge was > 0; batch: mean requests running "
          "when busy; CPU: vLLM's processes' CPU time / (wall x threads), the whole call")  # fmt: skip


def verify_part(args, runner, target_path: Path) -> None:
    contexts = [int(c) for c in args.contexts.split(",")]
    k = args.k
    llama = LlamaCppRunner(target_path, threads=args.threads, n_ctx=max(contexts) + k + 8)
    tokens = [int(t) for t in np.random.default_rng(0).integers(1000, 20000, max(contexts) + k + 1)]
    rows = []
    for c in contexts:
        vllm_s, llama_s = [], []
        runner.open_sequences(1, runner.n_ctx)
        runner.decode_sequences([SequenceTokens(0, 0, tokens[:c], None)])
        llama.reset()
        llama.forward(tokens[:c])
        for _ in range(args.repetitions):
            t0 = time.perf_counter()
            runner.decode_sequences([SequenceTokens(0, c, tokens[c : c + k + 1], 0)])
            vllm_s.append(time.perf_counter() - t0)
            runner.forget(0, c)
            t0 = time.perf_counter()
            llama.forward(tokens[c : c + k + 1], all_logits=True)
            llama_s.append(time.perf_counter() - t0)
            llama.rollback(c)
        runner.forget(0, 0)
        rows.append((c, statistics.median(vllm_s), statistics.median(llama_s)))
    x = np.array([c + k + 2 for c, _, _ in rows], dtype=float)
    y = np.array([v for _, v, _ in rows])
    b, a = np.polyfit(x, y, 1) if len(rows) > 1 else (0.0, float(y[0]))
    print(f"\nVERIFY: one round of K={k} (K + 1 tokens) on the served target, median of "
          f"{args.repetitions}; vLLM re-reads the context + K + 1 tokens + 1 probe token")  # fmt: skip
    print(f"{'context':>7} {'vLLM round ms':>13} {'model ms':>9} {'llama.cpp warm-cache ms':>23} "
          f"{'ratio':>6}")  # fmt: skip
    for c, v, lc in rows:
        model = a + b * (c + k + 2)
        print(f"{c:>7} {1e3 * v:>13.1f} {1e3 * model:>9.1f} {1e3 * lc:>23.1f} {v / lc:>6.2f}")
    print(f"re-prefill model fitted here: t = {1e3 * a:.1f} ms + {1e6 * b:.1f} us x (context + "
          f"K + 2 tokens); llama.cpp keeps the context in its KV cache and reads K + 1 tokens")  # fmt: skip


def walk_positions(matches: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-K greedy rounds over a match trace: per position i, (rounds that accepted token i,
    rounds that reached it). A round at s accepts the run of matches from s (at most K), then
    the target's token; the next round starts after it."""
    accepted, reached = np.zeros(k, int), np.zeros(k, int)
    s, n = 0, len(matches)
    while s < n:
        width = min(k, n - s)
        a = 0
        while a < width and matches[s + a]:
            a += 1
        reached[: min(a + 1, width)] += 1
        accepted[:a] += 1
        s += a + 1
    return accepted, reached


def acceptance_part(args, runner, registry, target_path: Path) -> None:
    k = args.k
    draft = LlamaCppRunner(model_file(registry.get(DRAFT[0]), DRAFT[1]), threads=args.threads,
                           n_ctx=args.ctx)  # fmt: skip
    target = LlamaCppRunner(target_path, threads=args.threads, n_ctx=args.ctx)
    stops = target.stop_tokens()
    trace_acc, trace_reached = np.zeros(k, int), np.zeros(k, int)
    dec_acc, dec_reached = np.zeros(k, int), np.zeros(k, int)
    decoder = SpeculativeDecoder(draft, runner)
    for prompt in select_prompts(load_prompts(), args.prompts):
        ids = chat_tokens(target, prompt)
        cont = generate(target, ids, args.acceptance_tokens, 0.0, None, stops).tokens
        rows = draft_logits(draft, ids, [np.asarray(cont)])[0]
        a, r = walk_positions(np.argmax(rows, axis=1) == np.asarray(cont), k)
        trace_acc += a
        trace_reached += r
        result = decoder.generate(ids, DecodeConfig(k=k, max_new_tokens=args.acceptance_tokens,
                                                    stop_tokens=stops))  # fmt: skip
        for rnd in result.rounds:
            width = len(rnd.drafted)
            dec_reached[: min(rnd.accepted + 1, width)] += 1
            dec_acc[: rnd.accepted] += 1
        print(f"  {prompt.id}: trace {len(cont)} tokens, decoder {len(result.tokens)} tokens in "
              f"{len(result.rounds)} rounds", flush=True)  # fmt: skip
    print(f"\nACCEPTANCE (greedy, K={k}, {args.prompts} prompts x {args.acceptance_tokens} "
          f"tokens): P(draft token i accepted | tokens before it accepted)")  # fmt: skip
    print(f"{'pos':>3} {'trace (llama.cpp target)':>26} {'95% CI':>15} "
          f"{'decoder via vLLM logprobs':>26} {'95% CI':>15} {'overlap':>7}")  # fmt: skip
    ok = True
    for i in range(k):
        ci_t, ci_d = wilson(trace_acc[i], trace_reached[i]), wilson(dec_acc[i], dec_reached[i])
        overlap = ci_t[0] <= ci_d[1] and ci_d[0] <= ci_t[1]
        ok &= overlap
        print(f"{i + 1:>3} {trace_acc[i]:>9}/{trace_reached[i]:<4} = "
              f"{trace_acc[i] / max(1, trace_reached[i]):.3f} {ci_t[0]:>7.3f}-{ci_t[1]:.3f} "
              f"{dec_acc[i]:>9}/{dec_reached[i]:<4} = {dec_acc[i] / max(1, dec_reached[i]):.3f} "
              f"{ci_d[0]:>7.3f}-{ci_d[1]:.3f} {'yes' if overlap else 'NO':>7}")  # fmt: skip
    print(f"acceptance two ways: {'PASS' if ok else 'FAIL'} (the 95% intervals overlap at every "
          f"position); the vLLM target is bf16 weights dequantized from the same GGUF")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="baseline,verify,acceptance")
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--sessions", default="1,2,4")
    parser.add_argument("--requests-per-session", type=int, default=2)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--contexts", default="64,256,512,1024")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--prompts", type=int, default=6)
    parser.add_argument("--acceptance-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ctx", type=int, default=2048)
    parser.add_argument("--enforce-eager", action="store_true")
    parser.add_argument("--vllm-python", default=None)
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    models = Path("models.yaml")
    registry = load_registry(models)
    model = registry.get(args.model)
    path = model_file(model, model.quant)
    folder = vllm_model_folder(model, log=print)
    t0 = time.perf_counter()
    with VllmServer(VllmLaunch(folder=folder, python=args.vllm_python, threads=args.threads,
                               max_model_len=args.ctx, max_num_seqs=8,
                               enforce_eager=args.enforce_eager,
                               log_file=Path(tempfile.mkdtemp()) / "vllm.log"),
                    log=print) as server:  # fmt: skip
        target = open_vllm_target(model, reference_tokenizer(path)[0],
                                  VllmTargetOptions(url=server.url, n_ctx=args.ctx))  # fmt: skip
        print(f"vLLM ready in {server.start_s:.0f} s, checked and warmed up in "
              f"{time.perf_counter() - t0:.0f} s ({target.runner.backend_version}, "
              f"{'eager' if args.enforce_eager else 'torch.compile'}, {args.threads} threads)")  # fmt: skip
        if "verify" in parts:
            verify_part(args, target.runner, path)
        if "acceptance" in parts:
            acceptance_part(args, target.runner, registry, path)
        if "baseline" in parts:
            baseline_part(args, server, models)
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
