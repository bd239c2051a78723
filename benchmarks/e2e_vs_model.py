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
  - verification latency t_v(K): one target call over K + 1 tokens on a warm cache, by a
    worker process holding the target on CPU 0 (the verification profile's method) while the
    server is idle;
  - the real system's per-round terms, from one calibration run (K = 2, no added delay): the
    loopback transport (relay, gRPC, protobuf) as the base round trip, the server's queue wait
    and its overhead outside the forward call, and the edge's bookkeeping (docs/model.md).
The prediction is configspec.analytic.evaluate on those inputs. About 15-20 minutes.

    python benchmarks/e2e_vs_model.py [--prompts 3] [--new-tokens 48] [--passes 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from configspec.alignment.prompts import load_prompts, select_prompts
from configspec.alignment.walk import greedy_walk, threshold_walk, total
from configspec.analytic.evaluate import DeviceTerms, RoundInputs, evaluate
from configspec.profiling.drafting import timed_decode
from configspec.registry import load_registry
from configspec.runners.llama_cpp import LlamaCppRunner
from configspec.serving.edge import Connection, RemoteVerifier
from configspec.serving.relay import LinkShape
from configspec.sources.resolve import model_file
from configspec.speculative.decoder import DecodeConfig, SpeculativeDecoder, target_only
from configspec.speculative.sampling import max_probability

DRAFT, TARGET, QUANT = "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "Q4_K_M"
EDGE_CPU, SERVER_CPU = 1, 0
KS = (1, 2, 4, 8)
TAU = (8, 0.5)  # K max, threshold
N_CTX = 1024


# ---- the target-side worker (its own process, on the server's CPU) -----------------------------


def worker() -> None:
    """Answer JSON-line requests on stdin: target continuations and verification latencies."""
    target = LlamaCppRunner(Path(sys.argv[sys.argv.index("--worker") + 1]), threads=1, n_ctx=N_CTX)
    stops = target.stop_tokens()
    for line in sys.stdin:
        req = json.loads(line)
        if req["cmd"] == "continuations":
            out = [target_only(target, p, req["n"], stop_tokens=stops) for p in req["prompts"]]
        else:  # verify latency at each K: K + 1 tokens, all logits, rolled back, warm-up first
            context, out = req["context"], {}
            target.reset()
            target.forward(context)
            for k in req["ks"]:
                samples = []
                for i in range(req["reps"] + 1):
                    t0 = time.perf_counter()
                    target.forward(context[-(k + 1) :], all_logits=True)
                    if i:
                        samples.append(time.perf_counter() - t0)
                    target.rollback(len(context))
                out[k] = statistics.mean(samples)
        print(json.dumps(out), flush=True)


class Worker:
    def __init__(self, target_path: Path):
        self.proc = subprocess.Popen(
            ["taskset", "-c", str(SERVER_CPU), sys.executable, __file__, "--worker",
             str(target_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip

    def ask(self, **request):
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(30)


# ---- the server -------------------------------------------------------------------------------


def start_server(tmp: Path) -> tuple[subprocess.Popen, str]:
    port_file = tmp / "port"
    proc = subprocess.Popen(
        ["taskset", "-c", str(SERVER_CPU), sys.executable, "-m", "configspec", "serve",
         "--model", TARGET, "--quant", QUANT, "--threads", "1", "--port", "0", "--port-file",
         str(port_file), "--max-sessions", "2", "--batch-window-ms", "0", "--ctx", str(N_CTX),
         "--duration-s", "7200", "--log-every-s", "0", "--out", str(tmp / "serving.json")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    while not port_file.exists() or not port_file.read_text().strip():
        if proc.poll() is not None:
            raise SystemExit("configspec serve did not start")
        time.sleep(0.2)
    return proc, f"127.0.0.1:{port_file.read_text().strip()}"


# ---- the edge side ------------------------------------------------------------------------------


def traces(draft: LlamaCppRunner, prompts, continuations):
    """Per prompt: greedy matches and the draft's confidence (max probability at T = 1)."""
    out = []
    for prompt, cont in zip(prompts, continuations, strict=True):
        draft.reset()
        rows = np.asarray(draft.forward(prompt + cont[:-1], all_logits=True))[len(prompt) - 1 :]
        matches = np.argmax(rows, axis=1) == np.asarray(cont)
        confidence = np.array([max_probability(r, 1.0) for r in rows])
        out.append((matches, confidence))
    return out


def walk(tr, policy) -> tuple[float, float, float]:
    """(tokens/round, drafted/round, P(all drafted accepted)) of the walk over every prompt."""
    k, tau = policy
    walks = (greedy_walk(m, k) if tau is None else threshold_walk(m, c, k, tau) for m, c in tr)
    counts = total(walks)
    return counts.tokens_per_round, counts.drafted_per_round, counts.full_acceptance


def extra_draft_steps(policy, full: float, step_s: float, step2_s: float) -> float:
    """Draft calls beyond D per round, in single-step units (docs/model.md, "Drafting"): after
    a fully accepted fixed-K round the next round's first call feeds two tokens (the last draft
    and the bonus), costing step2_s - step_s more; a threshold round also pays the call whose
    token fell below tau (a full acceptance there is rare and ignored)."""
    two_token = full * (step2_s - step_s) / step_s
    return two_token if policy[1] is None else 1.0


def draft_step_s(draft: LlamaCppRunner, context: list[int], n: int = 16) -> tuple[float, float]:
    """(one-token call, two-token call) mean times at `context`, the drafting profile's way."""
    draft.reset()
    draft.forward(context[:-1])
    timed_decode(draft, context[-1], 4)
    draft.rollback(len(context) - 1)
    one = statistics.mean(timed_decode(draft, context[-1], n))
    draft.rollback(len(context) - 1)
    two = []
    for _ in range(n // 2):
        t0 = time.perf_counter()
        draft.forward(context[-2:] if len(context) > 1 else context * 2)
        two.append(time.perf_counter() - t0)
        draft.rollback(len(context) - 1)
    return one, statistics.mean(two)


def run_cell(draft, address, fingerprint, prompts, policy, delay_s, new_tokens):
    k, tau = policy
    connection = Connection(address, LinkShape(added_rtt_s=delay_s))
    try:
        verifier = RemoteVerifier(connection, connection.hello(), "qwen2.5", fingerprint, k)
        decoder = SpeculativeDecoder(draft, verifier)
        config = DecodeConfig(k=k, tau=tau, max_new_tokens=new_tokens,
                              stop_tokens=draft.stop_tokens())  # fmt: skip
        return [decoder.generate(p, config) for p in prompts]
    finally:
        connection.close()


def terms(rtt_s: float, overhead_s: float) -> DeviceTerms:
    return DeviceTerms(
        mode="greedy", rtt_s=rtt_s, up_bit_s=1e15, down_bit_s=1e15, idle_w=0.0,
        overhead_s=overhead_s, batch=1, server_usd_per_hour=0.0, purchase_usd=0.0,
        lifetime_h=1.0, utilisation=1.0, usd_per_kwh=0.0, token_id_bytes=4, prob_bytes=2,
        vocab_size=151936, top_n=None, header_bytes=48,
    )  # fmt: skip


def round_terms(results) -> dict[str, float]:
    """Medians per round of the real system's own terms (docs/model.md)."""
    rounds = [r for res in results for r in res.rounds]
    med = lambda f: statistics.median(f(r) for r in rounds)  # noqa: E731
    return {
        "wire_s": med(lambda r: r.net_s),
        "queue_s": med(lambda r: r.server_queue_s),
        "server_overhead_s": med(lambda r: r.server_s - r.server_queue_s - r.verify_s),
        "edge_overhead_s": med(lambda r: r.other_s - (r.server_s - r.verify_s)),
    }


def label(policy) -> str:
    k, tau = policy
    return f"K={k}" if tau is None else f"K<={k} tau={tau:g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--delays-ms", default="0,20,50")
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.sched_setaffinity(0, {EDGE_CPU})  # before llama.cpp starts its threads here
    delays = [float(d) / 1000 for d in args.delays_ms.split(",")]
    policies = [(k, None) for k in KS] + [TAU]

    registry = load_registry(Path("models.yaml"))
    draft_path = model_file(registry.get(DRAFT), QUANT)
    target_path = model_file(registry.get(TARGET), QUANT)
    draft = LlamaCppRunner(draft_path, threads=1, n_ctx=N_CTX)
    from configspec.alignment.tokenizers import tokenizer_fingerprint

    fingerprint = tokenizer_fingerprint(draft)
    chosen = select_prompts(load_prompts(), args.prompts)
    prompts = [draft.tokenize(draft.chat_prompt([m.model_dump() for m in p.messages]))
               for p in chosen]  # fmt: skip
    worker_proc = Worker(target_path)
    tmp = Path(tempfile.mkdtemp(prefix="e2e-vs-model-"))
    server, address = start_server(tmp)
    try:
        continuations = worker_proc.ask(cmd="continuations", prompts=prompts, n=args.new_tokens)
        tr = traces(draft, prompts, continuations)
        mean_ctx = int(np.mean([len(p) for p in prompts])) + args.new_tokens // 2
        context = (prompts[0] + continuations[0])[:mean_ctx]
        matches = np.concatenate([m for m, _ in tr])
        print(f"edge on CPU {EDGE_CPU}, server on CPU {SERVER_CPU}, 1 thread each; greedy match "
              f"rate {matches.mean():.2f} over {len(matches)} positions; timing inputs at "
              f"context {mean_ctx}", flush=True)  # fmt: skip

        def inputs():
            verify = worker_proc.ask(cmd="verify", context=context, ks=list(range(9)), reps=2)
            return draft_step_s(draft, context), {int(k): v for k, v in verify.items()}

        calib = run_cell(draft, address, fingerprint, prompts, (2, None), 0.0, args.new_tokens)
        extra = round_terms(calib)
        print("calibration (K=2, no added delay), per round: " + ", ".join(
            f"{k} {1e3 * v:.2f} ms" for k, v in extra.items()), flush=True)  # fmt: skip

        cells = [(p, d) for d in delays for p in policies]
        runs: dict = {c: [] for c in cells}
        timing: dict = {c: [] for c in cells}
        rng = np.random.default_rng(args.seed)
        for n in range(args.passes):
            for i in rng.permutation(len(cells)):
                policy, delay = cells[i]
                timing[cells[i]].append(inputs())
                runs[cells[i]] += run_cell(draft, address, fingerprint, prompts, policy, delay,
                                           args.new_tokens)  # fmt: skip
                timing[cells[i]].append(inputs())
            print(f"pass {n + 1}/{args.passes} done", flush=True)
    finally:
        server.terminate()  # by process id
        server.wait(60)
        worker_proc.close()

    steps = [s for c in cells for (s, _), _ in timing[c]]
    print(f"draft step over all measurements: {1e3 * min(steps):.1f}-{1e3 * max(steps):.1f} ms")
    print(f"\n{'policy':<13} {'delay':>5} {'measured':>9} {'predicted':>10} {'error':>7}   "
          f"{'tok/round meas/walk':>19}   per round ms, measured (predicted): draft / wire / "
          f"verify / other")  # fmt: skip
    errors = []
    base_overhead = extra["queue_s"] + extra["server_overhead_s"] + extra["edge_overhead_s"]
    for policy, delay in cells:
        results = runs[(policy, delay)]
        step_s = statistics.mean(s for (s, _), _ in timing[(policy, delay)])
        step2_s = statistics.mean(s2 for (_, s2), _ in timing[(policy, delay)])
        verify = {k: statistics.mean(v[k] for _, v in timing[(policy, delay)]) for k in range(9)}
        tokens = sum(len(r.tokens) for r in results)
        measured = tokens / sum(r.decode_s for r in results)
        n_rounds = sum(len(r.rounds) for r in results)
        tpr, drafted, full = walk(tr, policy)
        extra_steps = extra_draft_steps(policy, full, step_s, step2_s)
        verify_d = float(np.interp(drafted, list(verify), list(verify.values())))
        x = RoundInputs(
            drafted=np.array([drafted]), extra_steps=np.array([extra_steps]),
            tokens=np.array([tpr]), step_s=np.array([step_s]), draft_w=np.zeros(1),
            verify_s=np.array([verify_d]), verify_j=np.zeros(1),
        )  # fmt: skip
        m = evaluate(x, terms(delay + extra["wire_s"], base_overhead))
        predicted = float(m.goodput_tok_s[0])
        err = predicted / measured - 1
        errors.append(abs(err))
        rounds = [r for res in results for r in res.rounds]

        def mean(f, rounds=rounds) -> float:
            return 1e3 * sum(f(r) for r in rounds) / len(rounds)

        print(f"{label(policy):<13} {1e3 * delay:>5.0f} {measured:>9.2f} {predicted:>10.2f} "
              f"{err:>+7.1%}   {tokens / n_rounds:>9.2f}/{tpr:<9.2f}   "
              f"{mean(lambda r: r.draft_s):.0f} ({1e3 * float(m.draft_s[0]):.0f}) / "
              f"{mean(lambda r: r.net_s):.0f} ({1e3 * float(m.net_s[0]):.0f}) / "
              f"{mean(lambda r: r.verify_s):.0f} ({1e3 * verify_d:.0f}) / "
              f"{mean(lambda r: r.other_s):.1f} ({1e3 * base_overhead:.1f})")  # fmt: skip
    worst = max(errors)
    print(
        f"mean |error| {np.mean(errors):.1%}, max {worst:.1%}: "
        f"{'PASS' if worst <= 0.10 else 'FAIL'} (target: within 10% for every cell)"
    )


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker()
    else:
        main()
