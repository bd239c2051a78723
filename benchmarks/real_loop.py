"""The real edge-server loop and the model's inputs measured next to it, for the benchmarks that
hold the model against it (e2e_vs_model.py, overlap_vs_model.py).

A real `configspec serve` (the demo target, 1 thread, pinned to CPU 0) and a real edge in the
benchmark's own process (the demo draft, 1 thread, pinned to CPU 1: `configspec edge`'s own
RemoteVerifier, relay and decoder) speculate greedily over gRPC on loopback. The model's inputs
are measured the way the profiles measure them, separately from the runs:
  - tokens, drafts per round, P(all drafted accepted) and P(reuse): walking the draft's
    teacher-forced greedy match and confidence traces over the target's own greedy continuation
    of the same prompts (the alignment profile's walk);
  - draft step time: timed single-token (and two-token) decode calls at the prompts' mean
    context (the drafting profile's method), in this process on CPU 1;
  - verification latency t_v(D) for every D up to K: one target call over D + 1 tokens on a
    warm cache, by a worker process holding the target on CPU 0 (the verification profile's
    method) while the server is idle, averaged over the walk's rounds by their D (docs/model.md,
    "Verification per round"); for proactive drafting also while the draft decodes on CPU 1
    (`concurrent`): on one machine the pre-drafting shares the memory system with the
    verification, which two machines would not, so that slowdown is a term of this loopback
    emulation, measured;
  - the real system's per-round terms (docs/model.md): `round_terms` of a calibration run.
The timing inputs are measured before a cell's first prompt and after each of its prompts
(`Loop.measure`), so every run is bracketed within seconds: this VM's speed drifts by tens of
percent within a minute.
"""

from __future__ import annotations

import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from configspec.alignment.prompts import load_prompts, select_prompts
from configspec.alignment.tokenizers import tokenizer_fingerprint
from configspec.alignment.walk import WalkCounts, greedy_walk, threshold_walk, total
from configspec.analytic.evaluate import DeviceTerms, Metrics, RoundInputs, evaluate
from configspec.analytic.inputs import per_round
from configspec.profiling.drafting import timed_decode
from configspec.registry import load_registry
from configspec.runners.llama_cpp import LlamaCppRunner
from configspec.serving.edge import Connection, RemoteVerifier
from configspec.serving.relay import LinkShape
from configspec.sources.resolve import model_file
from configspec.speculative.decoder import DecodeConfig, SpecResult, SpeculativeDecoder, target_only
from configspec.speculative.sampling import max_probability

DRAFT, TARGET, QUANT = "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "Q4_K_M"
EDGE_CPU, SERVER_CPU = 1, 0
N_CTX = 1024
Policy = tuple[int, float | None]  # (K or K max, tau or None)


# ---- the target-side worker (its own process, on the server's CPU) -----------------------------


def worker(target_path: str) -> None:
    """Answer JSON-line requests on stdin: target continuations and verification latencies."""
    target = LlamaCppRunner(Path(target_path), threads=1, n_ctx=N_CTX)
    stops = target.stop_tokens()
    for line in sys.stdin:
        req = json.loads(line)
        if req["cmd"] == "continuations":
            out = [target_only(target, p, req["n"], stop_tokens=stops) for p in req["prompts"]]
        else:  # verify latency at each K: K + 1 tokens, all logits, rolled back, warm-up first
            context, out = req["context"], {}
            if target.n_past != len(context):  # the context stays cached between requests
                target.reset()
                target.forward(context)
            for i, k in enumerate([req["ks"][-1], *req["ks"]]):
                samples = []
                for _ in range(req["reps"] if i else 1):
                    t0 = time.perf_counter()
                    target.forward(context[-(k + 1) :], all_logits=True)
                    samples.append(time.perf_counter() - t0)
                    target.rollback(len(context))
                if i:  # the first call warms up
                    out[k] = statistics.mean(samples)
        print(json.dumps(out), flush=True)


class Worker:
    def __init__(self, target_path: Path):
        self.proc = subprocess.Popen(
            ["taskset", "-c", str(SERVER_CPU), sys.executable, __file__, "--worker",
             str(target_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip

    def ask(self, while_waiting=None, **request):
        """Send a request, run `while_waiting()` repeatedly until the answer is there, read it."""
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        if while_waiting is not None:
            while not select.select([self.proc.stdout], [], [], 0)[0]:
                while_waiting()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(30)


# ---- the server -------------------------------------------------------------------------------


def pinned(*args: str, cpu: int) -> list[str]:
    """A `configspec` command line pinned to one CPU."""
    return ["taskset", "-c", str(cpu), sys.executable, "-m", "configspec", *args]


def start_serve(port_file: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """`configspec serve ARGS` on loopback, pinned to the server's CPU, on a free port (written
    to `port_file`); (the process, to be stopped by its id, and its address) once it listens."""
    proc = subprocess.Popen(
        pinned("serve", "--threads", "1", "--port", "0", "--port-file", str(port_file),
               "--log-every-s", "0", *args, cpu=SERVER_CPU),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    while not port_file.exists() or not port_file.read_text().strip():
        if proc.poll() is not None:
            raise SystemExit("configspec serve did not start")
        time.sleep(0.2)
    return proc, f"127.0.0.1:{port_file.read_text().strip()}"


def start_server(tmp: Path) -> tuple[subprocess.Popen, str]:
    """The loop's server: the demo target, one session at a time, no batching window."""
    return start_serve(tmp / "port", "--model", TARGET, "--quant", QUANT, "--max-sessions", "2",
                       "--batch-window-ms", "0", "--ctx", str(N_CTX), "--duration-s", "7200",
                       "--out", str(tmp / "serving.json"))  # fmt: skip


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


def walk(tr, policy: Policy) -> WalkCounts:
    """The walk over every prompt's trace (tokens/round, drafts/round, full acceptance, reuse)."""
    k, tau = policy
    return total(greedy_walk(m, k) if tau is None else threshold_walk(m, c, k, tau) for m, c in tr)


def own_text_walk(loop: Loop, results: list[SpecResult], policy: Policy) -> WalkCounts:
    """The walk over the text the runs committed (the draft teacher-forced on each run's own
    output). In greedy mode it reproduces the run's tokens per round, up to the draft's own argmax
    flips (the trace reads the text in one call, the run in single-token calls: within 2% over 8
    prompts, docs/serving.md). What it removes from the comparison is the text itself: the server
    verifies K + 1 tokens in one call, whose rounding differs from the single-token calls that
    made the target's continuation, so a run's text can leave that continuation at a flipped
    argmax and then accept a different number of tokens (see text_divergence)."""
    kept = [(loop.prompts[i % len(loop.prompts)], r.tokens) for i, r in enumerate(results)]
    kept = [(p, t) for p, t in kept if t]
    return walk(traces(loop.draft, [p for p, _ in kept], [t for _, t in kept]), policy)


def text_divergence(loop: Loop, results: list[SpecResult]) -> list[int | None]:
    """Per run: the first position where its text differs from the target's single-token greedy
    continuation of the same prompt (None: identical over the shorter of the two)."""
    out = []
    for i, r in enumerate(results):
        cont = loop.continuations[i % len(loop.prompts)]
        pairs = zip(r.tokens, cont, strict=False)  # over the shorter of the two
        out.append(next((j for j, (a, b) in enumerate(pairs) if a != b), None))
    return out


def print_verdicts(
    loop: Loop, results: list[SpecResult], errors: list[float], own_errors: list[float]
) -> None:
    """How many runs left the continuation, then the 10% verdict of each of the two predictions."""
    found = [d for d in text_divergence(loop, results) if d is not None]
    where = f" (first at token {min(found)})" if found else ""
    print(f"{len(found)} of {len(results)} runs' text left the target's single-token greedy "
          f"continuation{where}")  # fmt: skip
    for name, errs in (
        ("walk over the target's continuation (the alignment profile's way)", errors),
        ("walk over the text each run committed (timing model alone)", own_errors),
    ):
        worst = max(errs)
        print(f"{name}: mean |error| {np.mean(errs):.1%}, max {worst:.1%}: "
              f"{'PASS' if worst <= 0.10 else 'FAIL'} (target: within 10% for every cell)")  # fmt: skip


def extra_draft_steps(counts: WalkCounts, step_s: float, step2_s: float) -> float:
    """Draft calls beyond D per round, in single-step units (docs/model.md, "Drafting"): after
    a fully accepted round the next round's first call feeds two tokens (the last draft and the
    bonus), costing step2_s - step_s more; a threshold round that stopped on a token below tau
    also paid the call that read it."""
    two_token = counts.full_acceptance * (step2_s - step_s) / step_s
    return two_token + counts.stopped_early_per_round


def verify_at(counts: WalkCounts, verify: dict[int, float]) -> float:
    """The mean verification time per round: t_v(D) averaged over the walk's rounds by their D
    (t_v is not linear in D on a CPU, so a threshold's spread of D costs more or less than its
    mean D would), interpolated between the measured D."""
    ks, values = list(verify), list(verify.values())
    shares = [counts.drafted_shares or None]  # a walk without the histogram: at the mean D
    return float(per_round(lambda d: np.interp(d, ks, values), [counts.drafted_per_round],
                           shares)[0])  # fmt: skip


def draft_step_s(draft: LlamaCppRunner, context: list[int], n: int = 8) -> tuple[float, float]:
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


def terms(rtt_s: float, overhead_s: float, header_bytes: int = 48) -> DeviceTerms:
    """The model's device terms for loopback: the measured round trip, no link limit, no prices
    (header_bytes 0 in process, where nothing goes on a wire)."""
    return DeviceTerms(
        mode="greedy", rtt_s=rtt_s, up_bit_s=1e15, down_bit_s=1e15, idle_w=0.0,
        overhead_s=overhead_s, batch=1, server_usd_per_hour=0.0, purchase_usd=0.0,
        lifetime_h=1.0, utilisation=1.0, usd_per_kwh=0.0, token_id_bytes=4, prob_bytes=2,
        vocab_size=151936, top_n=None, header_bytes=header_bytes,
    )  # fmt: skip


def round_terms(results: list[SpecResult]) -> dict[str, float]:
    """Medians per round of the real system's own terms (docs/model.md)."""
    rounds = [r for res in results for r in res.rounds]
    med = lambda f: statistics.median(f(r) for r in rounds)  # noqa: E731
    return {
        "wire_s": med(lambda r: r.net_s),
        "queue_s": med(lambda r: r.server_queue_s),
        "server_overhead_s": med(lambda r: r.server_s - r.server_queue_s - r.verify_s),
        "edge_overhead_s": med(lambda r: r.other_s - (r.server_s - r.verify_s)),
    }


def overhead_s(extra: dict[str, float]) -> float:
    """The model's overhead per round: the server's queue and overhead and the edge's own."""
    return extra["queue_s"] + extra["server_overhead_s"] + extra["edge_overhead_s"]


@dataclass
class Prediction:
    metrics: Metrics  # one row
    verify_s: float  # t_v at the walk's drafts per round
    step_s: float


@dataclass
class Timing:
    """The timing inputs measured at one moment (Loop.inputs)."""

    step_s: float  # one-token draft call
    step2_s: float  # two-token draft call
    verify_s: dict[int, float]  # t_v(K), the draft idle
    verify_concurrent_s: dict[int, float] | None = None  # t_v(K) while the draft decodes


def predict(
    counts: WalkCounts, policy: Policy, timing: list[Timing], extra: dict[str, float],
    delay_s: float, overlap: str = "none", draft_w: float = 0.0,
) -> Prediction:  # fmt: skip
    """The model's prediction for one cell: the walk's counts, the timing measured next to the
    cell's runs, the calibrated per-round terms and the emulated delay. Proactive: the part of
    the flight the draft pre-drafts in, min(1, K t_d / F), sees t_v measured while it drafts."""
    step_s = statistics.mean(t.step_s for t in timing)
    step2_s = statistics.mean(t.step2_s for t in timing)
    verify = {k: statistics.mean(t.verify_s[k] for t in timing) for k in timing[0].verify_s}
    drafted = counts.drafted_per_round
    verify_d = verify_at(counts, verify)
    proactive = overlap == "proactive"
    if proactive and timing[0].verify_concurrent_s is not None:
        both = {k: statistics.mean(t.verify_concurrent_s[k] for t in timing) for k in verify}
        concurrent_d = verify_at(counts, both)
        share = min(1.0, policy[0] * step_s / (delay_s + extra["wire_s"] + verify_d))
        verify_d += share * (concurrent_d - verify_d)
    x = RoundInputs(
        drafted=np.array([drafted]),
        extra_steps=np.array([extra_draft_steps(counts, step_s, step2_s)]),
        tokens=np.array([counts.tokens_per_round]), step_s=np.array([step_s]),
        draft_w=np.array([draft_w]), verify_s=np.array([verify_d]), verify_j=np.zeros(1),
        predraft_max=np.array([policy[0] if proactive else 0.0]),
        reuse=np.array([counts.reuse_rate if proactive else 0.0]),
    )  # fmt: skip
    metrics = evaluate(x, terms(delay_s + extra["wire_s"], overhead_s(extra)))
    return Prediction(metrics, verify_d, step_s)


def ms_columns(rounds, pairs) -> str:
    """'measured (predicted)' per-round means in ms, joined by ' / ': `pairs` of (the field of a
    RoundRecord, the predicted seconds); one decimal below 10 ms."""
    out = []
    for field_name, predicted_s in pairs:
        measured = 1e3 * sum(getattr(r, field_name) for r in rounds) / len(rounds)
        digits = 1 if 1e3 * predicted_s < 10 else 0
        out.append(f"{measured:.{digits}f} ({1e3 * predicted_s:.{digits}f})")
    return " / ".join(out)


def label(policy: Policy) -> str:
    k, tau = policy
    return f"K={k}" if tau is None else f"K<={k} tau={tau:g}"


@dataclass
class Loop:
    """The server, the target worker and the draft, with the prompts and their traces."""

    draft: LlamaCppRunner
    fingerprint: str
    prompts: list[list[int]]
    worker: Worker
    server: subprocess.Popen
    address: str
    tr: list
    continuations: list[list[int]]  # the target's single-token greedy continuation per prompt
    context: list[int]  # the prompts' mean context, where the timing inputs are measured

    def inputs(self, ks: list[int], concurrent: bool = False) -> Timing:
        """The timing inputs, measured now, one after the other (with `concurrent`, t_v(K) is
        also measured while the draft decodes on its core); one call per K after a warm-up."""
        verify = self.worker.ask(cmd="verify", context=self.context, ks=ks, reps=1)
        both = None
        if concurrent:
            self.draft.reset()
            self.draft.forward(self.context)
            base = self.draft.n_past

            def decode_one() -> None:
                if self.draft.n_past >= base + 64:
                    self.draft.rollback(base)
                self.draft.forward([self.context[-1]])

            both = self.worker.ask(decode_one, cmd="verify", context=self.context, ks=ks, reps=1)
        one, two = draft_step_s(self.draft, self.context)
        as_int = lambda d: {int(k): v for k, v in d.items()}  # noqa: E731 - JSON keys are text
        return Timing(one, two, as_int(verify), as_int(both) if both else None)

    def run(
        self, policy: Policy, delay_s: float, new_tokens: int, overlap: str = "none",
        prompts: list[int] | None = None,
    ) -> list[SpecResult]:  # fmt: skip
        """Every prompt (or those indexed) through the real edge (a fresh connection with the
        emulated delay)."""
        k, tau = policy
        connection = Connection(self.address, LinkShape(added_rtt_s=delay_s))
        try:
            verifier = RemoteVerifier(connection, connection.hello(), "qwen2.5", self.fingerprint,
                                      k)  # fmt: skip
            decoder = SpeculativeDecoder(self.draft, verifier)
            config = DecodeConfig(k=k, tau=tau, max_new_tokens=new_tokens,
                                  stop_tokens=self.draft.stop_tokens(), overlap=overlap)  # fmt: skip
            chosen = range(len(self.prompts)) if prompts is None else prompts
            return [decoder.generate(self.prompts[i], config) for i in chosen]
        finally:
            connection.close()

    def measure(
        self, policy: Policy, delay_s: float, new_tokens: int, overlap: str = "none"
    ) -> tuple[list[SpecResult], list[Timing]]:
        """One visit to a cell: every prompt through the real edge, one at a time, with the
        timing inputs (t_v at every D up to K) measured before the first and after each, so that
        each run is bracketed within seconds by what the model is given: the VM's speed drifts
        by tens of percent over a minute, and a run of all the prompts lasts about one."""
        ks = list(range(policy[0] + 1))
        concurrent = overlap == "proactive"
        timing = [self.inputs(ks, concurrent)]
        results = []
        for i in range(len(self.prompts)):
            results += self.run(policy, delay_s, new_tokens, overlap, prompts=[i])
            timing.append(self.inputs(ks, concurrent))
        return results, timing

    def close(self) -> None:
        self.server.terminate()  # by process id
        self.server.wait(60)
        self.worker.close()


def open_loop(n_prompts: int, new_tokens: int) -> Loop:
    """Pin this process to the edge's CPU, load the draft, start the worker and the server,
    have the target continue the prompts and the draft read them (the traces)."""
    os.sched_setaffinity(0, {EDGE_CPU})  # before llama.cpp starts its threads here
    registry = load_registry(Path("models.yaml"))
    draft_path = model_file(registry.get(DRAFT), QUANT)
    target_path = model_file(registry.get(TARGET), QUANT)
    draft = LlamaCppRunner(draft_path, threads=1, n_ctx=N_CTX)
    chosen = select_prompts(load_prompts(), n_prompts)
    prompts = [draft.tokenize(draft.chat_prompt([m.model_dump() for m in p.messages]))
               for p in chosen]  # fmt: skip
    worker_proc = Worker(target_path)
    server, address = start_server(Path(tempfile.mkdtemp(prefix="real-loop-")))
    try:
        continuations = worker_proc.ask(cmd="continuations", prompts=prompts, n=new_tokens)
        tr = traces(draft, prompts, continuations)
    except BaseException:
        server.terminate()
        worker_proc.close()
        raise
    mean_ctx = int(np.mean([len(p) for p in prompts])) + new_tokens // 2
    context = (prompts[0] + continuations[0])[:mean_ctx]
    matches = np.concatenate([m for m, _ in tr])
    print(f"edge on CPU {EDGE_CPU}, server on CPU {SERVER_CPU}, 1 thread each; greedy match "
          f"rate {matches.mean():.2f} over {len(matches)} positions; timing inputs at "
          f"context {mean_ctx}", flush=True)  # fmt: skip
    return Loop(draft, tokenizer_fingerprint(draft), prompts, worker_proc, server, address, tr,
                continuations, context)  # fmt: skip


if __name__ == "__main__" and "--worker" in sys.argv:
    worker(sys.argv[sys.argv.index("--worker") + 1])
