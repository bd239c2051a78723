"""Does configspec's decode timing add overhead? Compare it with llama.cpp's own clock.

For the same decode calls, configspec's tokens/s (tokens / sum of the Python-timed forward calls)
is compared with llama.cpp's internal perf counters (llama_perf_context: t_eval_ms, n_eval), which
time the same work inside the library. Target: within 5%.

    python benchmarks/profiler_overhead.py [--quants Q4_K_M,Q2_K] [--threads 2] [--tokens 128]
"""

from __future__ import annotations

import argparse

import llama_cpp

from configspec.profiling.drafting import profile_tokens, timed_decode
from configspec.registry import load_registry
from configspec.runners.llama_cpp import LlamaCppRunner
from configspec.sources.resolve import model_file


def compare(path, threads: int, tokens: int, repetitions: int, context: int) -> tuple[float, float]:
    runner = LlamaCppRunner(path, threads=threads, n_ctx=context + tokens + 16)
    try:
        prompt = profile_tokens(runner, context)
        runner.forward(prompt[:-1])
        timed_decode(runner, prompt[-1], 8)  # warm-up
        runner.rollback(len(prompt) - 1)
        llama_cpp.llama_perf_context_reset(runner.ctx)
        ours_s = 0.0
        for _ in range(repetitions):
            ours_s += sum(timed_decode(runner, prompt[-1], tokens))
            runner.rollback(len(prompt) - 1)
        perf = llama_cpp.llama_perf_context(runner.ctx)
        assert perf.n_eval == tokens * repetitions, (perf.n_eval, tokens * repetitions)
        return tokens * repetitions / ours_s, perf.n_eval / (perf.t_eval_ms / 1000)
    finally:
        runner.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="models.yaml")
    parser.add_argument("--draft", default="qwen2.5-coder-0.5b")
    parser.add_argument("--quants", default="Q4_K_M,Q8_0,Q2_K,F16")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--context", type=int, default=16)
    args = parser.parse_args()
    model = load_registry(args.models).get(args.draft)
    print(f"{'quant':<8}{'configspec tok/s':>18}{'llama.cpp tok/s':>18}{'difference':>12}")
    worst = 0.0
    for quant in args.quants.split(","):
        ours, theirs = compare(
            model_file(model, quant), args.threads, args.tokens, args.repetitions, args.context
        )
        diff = (ours - theirs) / theirs
        worst = max(worst, abs(diff))
        print(f"{quant:<8}{ours:>18.2f}{theirs:>18.2f}{diff:>+11.2%}")
    verdict = "PASS" if worst <= 0.05 else "FAIL"
    print(f"largest difference {worst:.2%} (target <= 5%): {verdict}")


if __name__ == "__main__":
    main()
