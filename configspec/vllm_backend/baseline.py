"""`configspec baseline-serve`: the target served ALONE by vLLM (continuous batching), measured.

The comparison every speculative-decoding paper makes: the same sessions (prompts, lengths)
that edges would draft for, sent straight to a server that decodes them itself. N sessions run
a closed loop: each sends its next request when its previous one has finished (no think time).
Each request streams its tokens (`/v1/completions`, stream, return_token_ids); the client
stamps every chunk. Measured: verified tokens/s (every token is the target's own), per-request
decode rate, inter-token latency (a chunk's tokens share its gap, as the edge's round tokens
share the round), TTFT, and the server's utilisation (vLLM's running-requests gauge sampled
every --poll-s; the vLLM processes' CPU time when configspec started them). vLLM's own counters
are cross-checked with the tokens counted here. Prompts are rendered and tokenized with the
target GGUF's own chat template and tokenizer, exactly as `configspec edge` does.
"""

from __future__ import annotations

import os
import queue
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from configspec.errors import ConfigspecError
from configspec.profiles.baseline import (
    BaselineProfile,
    BaselineSettings,
    RequestSample,
    ServerSample,
)  # fmt: skip
from configspec.profiles.environment import Environment
from configspec.profiles.io import default_output, load_profile, save_profile
from configspec.profiles.summary import Summary
from configspec.progress import console, step_progress
from configspec.vllm_backend.client import VllmClient

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class BaselineOptions:
    models: Path
    target: str | None = None
    quant: str | None = None
    prompts: Path | None = None
    n_prompts: int | None = 4
    sessions: int = 1
    max_new_tokens: int = 64
    lengths_from: Path | None = None  # an e2e profile: replay its prompts and lengths
    ignore_eos: bool = False
    threads: int = 2
    n_ctx: int = 2048
    vllm_url: str | None = None
    vllm_python: str | None = None
    enforce_eager: bool = False
    poll_s: float = 0.25
    device: str | None = None
    out: Path | None = None


@dataclass(frozen=True)
class Job:
    prompt_id: str
    ids: list[int]
    max_tokens: int


def jobs_for(options: BaselineOptions, ids_by_prompt: dict[str, list[int]],
             order: list[str]) -> list[Job]:  # fmt: skip
    """The requests: each prompt once, with the e2e profile's lengths when replaying one."""
    if options.lengths_from is None:
        return [Job(p, ids_by_prompt[p], options.max_new_tokens) for p in order]
    from configspec.profiles.serving import E2EProfile

    e2e = load_profile(options.lengths_from, E2EProfile)
    runs = [p for p in e2e.prompts if p.id in ids_by_prompt and p.tokens > 0]
    if not runs:
        raise ConfigspecError(f"{options.lengths_from} has no finished prompt of the prompt set "
                              "given; pass the same --prompts the edge ran")  # fmt: skip
    return [Job(p.id, ids_by_prompt[p.id], p.tokens) for p in runs]


def stream_request(client: VllmClient, model: str, job: Job, ignore_eos: bool,
                   t0: float) -> tuple[float, list[tuple[float, int]]]:  # fmt: skip
    """Send one request; (sent time, [(arrival time, tokens in that chunk)]) since t0."""
    body = {"model": model, "prompt": job.ids, "max_tokens": job.max_tokens, "temperature": 0.0,
            "ignore_eos": ignore_eos, "return_token_ids": True, "add_special_tokens": False}  # fmt: skip
    sent = time.perf_counter() - t0
    chunks = []
    for event in client.stream_completion(body):
        for choice in event.get("choices", []):
            n = len(choice.get("token_ids") or []) or (1 if choice.get("text") else 0)
            if n:
                chunks.append((time.perf_counter() - t0, n))
    return sent, chunks


def request_sample(job: Job, session: int, sent: float, chunks: list[tuple[float, int]]):
    if not chunks:
        return RequestSample(prompt_id=job.prompt_id, session=session,
                             prompt_tokens=len(job.ids), tokens=0, sent_s=sent, ttft_s=0.0,
                             decode_s=0.0)  # fmt: skip
    gaps, last = [], chunks[0][0]
    for t, n in chunks[1:]:
        gaps += [(t - last) / n] * n
        last = t
    first_n = chunks[0][1]
    gaps = [0.0] * (first_n - 1) + gaps  # tokens that came with the first chunk
    return RequestSample(
        prompt_id=job.prompt_id, session=session, prompt_tokens=len(job.ids),
        tokens=sum(n for _, n in chunks), sent_s=sent, ttft_s=chunks[0][0] - sent,
        decode_s=chunks[-1][0] - chunks[0][0], token_gaps_s=gaps,
    )  # fmt: skip


def cpu_seconds(pids: list[int]) -> float | None:
    """utime + stime of `pids` (/proc/<pid>/stat fields 14-15), seconds; None off Linux."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total if pids else None


def run_load(client: VllmClient, model: str, jobs: list[Job], sessions: int, ignore_eos: bool,
             poll_s: float, advance=None):  # fmt: skip
    """The closed loop: `sessions` workers take the next job as they finish one. Returns
    (request samples, server samples, duration_s)."""
    todo: queue.Queue = queue.Queue()
    for job in jobs:
        todo.put(job)
    samples: list[RequestSample] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    t0 = time.perf_counter()
    done = threading.Event()

    def worker(session: int) -> None:
        while not errors:
            try:
                job = todo.get_nowait()
            except queue.Empty:
                return
            try:
                sent, chunks = stream_request(client, model, job, ignore_eos, t0)
            except BaseException as exc:  # noqa: BLE001 - reported once, below
                errors.append(exc)
                return
            with lock:
                samples.append(request_sample(job, session, sent, chunks))
                if advance:
                    advance()

    server: list[ServerSample] = []

    def poll() -> None:
        while not done.wait(poll_s):
            try:
                m = client.metrics()
            except ConfigspecError:
                continue
            server.append(ServerSample(t_s=time.perf_counter() - t0,
                                       running=m.get("vllm:num_requests_running", 0.0),
                                       waiting=m.get("vllm:num_requests_waiting", 0.0)))  # fmt: skip

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    duration = time.perf_counter() - t0
    done.set()
    poller.join(5)
    if errors:
        raise errors[0] if isinstance(errors[0], ConfigspecError) else ConfigspecError(
            f"a baseline request failed: {errors[0]}")  # fmt: skip
    return sorted(samples, key=lambda s: s.sent_s), server, duration


def summarise(profile: BaselineProfile) -> None:
    reqs = [r for r in profile.requests if r.tokens]
    profile.tokens = sum(r.tokens for r in reqs)
    d = profile.duration_s
    profile.verified_tokens_per_s = profile.tokens / d if d > 0 else 0.0
    rates = [(r.tokens - 1) / r.decode_s for r in reqs if r.decode_s > 0 and r.tokens > 1]
    profile.per_session_tokens_per_s = Summary.of(rates) if rates else None
    gaps = [g for r in reqs for g in r.token_gaps_s]
    if gaps:
        profile.inter_token_latency_s = {
            f"p{q}": float(np.percentile(gaps, q)) for q in (50, 90, 99)
        }
    profile.ttft_s = Summary.of([r.ttft_s for r in reqs]) if reqs else None
    busy = [s.running for s in profile.server_samples if s.running > 0]
    n = len(profile.server_samples)
    profile.busy_fraction = len(busy) / n if n else 0.0
    profile.mean_running = statistics.fmean(busy) if busy else 0.0


def run_baseline(options: BaselineOptions) -> tuple[BaselineProfile, Path]:
    from configspec.alignment.prompts import DEFAULT_PROMPTS, load_prompts, select_prompts
    from configspec.serving.server import registry_target
    from configspec.sources.cache import file_sha256
    from configspec.vllm_backend.counters import cross_check, snapshot
    from configspec.vllm_backend.target import (
        VllmTargetOptions,
        open_vllm_target,
        reference_tokenizer,
    )  # fmt: skip

    if options.sessions < 1:
        raise ConfigspecError("--sessions must be at least 1")
    model, quant, path = registry_target(options.models, options.target, options.quant)
    prompts = load_prompts(options.prompts)
    if options.lengths_from is None:
        prompts = select_prompts(prompts, options.n_prompts)
    reference, ids = reference_tokenizer(path, prompts)
    ids_by_prompt = {p.id: i for p, i in zip(prompts, ids, strict=True)}
    jobs = jobs_for(options, ids_by_prompt, [p.id for p in prompts])
    ignore_eos = options.ignore_eos or options.lengths_from is not None
    need = max(len(j.ids) + j.max_tokens for j in jobs)
    if need > options.n_ctx:
        raise ConfigspecError(f"a prompt + its new tokens need {need} tokens, the context is "
                              f"{options.n_ctx}; raise --ctx or lower --max-new-tokens")  # fmt: skip
    target = open_vllm_target(model, reference, VllmTargetOptions(
        url=options.vllm_url, python=options.vllm_python, threads=options.threads,
        n_ctx=options.n_ctx, max_sessions=max(options.sessions, 1),
        enforce_eager=options.enforce_eager,
    ), log=lambda line: console.print(line, highlight=False))  # fmt: skip
    try:
        client, runner = target.runner.client, target.runner
        pids = target.server.pids() if target.server else []
        before, cpu0 = snapshot(client), cpu_seconds(pids)
        with step_progress(f"baseline: {options.sessions} session(s)", len(jobs)) as (adv, _, _b):
            requests, server, duration = run_load(client, runner.model_id, jobs, options.sessions,
                                                  ignore_eos, options.poll_s, adv)  # fmt: skip
        cpu1 = cpu_seconds(pids)
        delta, warning = cross_check(client, before)
    finally:
        target.close()
    settings = BaselineSettings(
        target=model.name, target_file_sha256=file_sha256(path), engine="vllm",
        engine_version=runner.backend_version, url=client.url,
        started_by_configspec=target.server is not None, engine_start_s=target.start_s,
        enforce_eager=options.enforce_eager, threads=options.threads, sessions=options.sessions,
        prompts=str(options.prompts or DEFAULT_PROMPTS), n_requests=len(jobs),
        max_new_tokens=max(j.max_tokens for j in jobs),
        lengths_from=str(options.lengths_from) if options.lengths_from else None,
        ignore_eos=ignore_eos,
    )  # fmt: skip
    profile = BaselineProfile(
        environment=Environment.capture(options.device, options.threads, "vllm",
                                        runner.backend_version),
        settings=settings, duration_s=duration, tokens=0, verified_tokens_per_s=0.0,
        requests=requests, server_samples=server,
    )  # fmt: skip
    summarise(profile)
    profile.engine_counters = {**delta, "counted_tokens": float(profile.tokens)}
    if warning:
        profile.warnings.append(warning)
    if delta["vllm_generation_tokens"] != profile.tokens:
        profile.warnings.append(f"vLLM counted {delta['vllm_generation_tokens']:g} generated "
                                f"tokens, the client {profile.tokens}")  # fmt: skip
    if cpu0 is not None and cpu1 is not None and duration > 0:
        profile.cpu_utilisation = (cpu1 - cpu0) / (duration * options.threads)
    else:
        profile.warnings.append("CPU utilisation not measured: vLLM was started elsewhere "
                                "(--vllm-url); busy_fraction and mean_running come from its "
                                "own gauge")  # fmt: skip
    out = options.out or default_output(profile.environment.device, "baseline")
    save_profile(profile, out)
    print_baseline(profile)
    console.print(f"baseline profile written to {out}")
    return profile, out


def print_baseline(profile: BaselineProfile) -> None:
    s, itl = profile.settings, profile.inter_token_latency_s
    rate = profile.per_session_tokens_per_s
    cpu = f", CPU {profile.cpu_utilisation:.0%}" if profile.cpu_utilisation is not None else ""
    console.print(
        f"{s.target} served alone by {s.engine_version}, {s.sessions} session(s), "
        f"{s.n_requests} requests: {profile.verified_tokens_per_s:.2f} verified tok/s "
        f"({rate.mean if rate else 0:.2f} per session), inter-token latency p50/p90/p99 "
        f"{1e3 * itl.get('p50', 0):.0f}/{1e3 * itl.get('p90', 0):.0f}/{1e3 * itl.get('p99', 0):.0f}"
        f" ms, TTFT {1e3 * (profile.ttft_s.mean if profile.ttft_s else 0):.0f} ms; server busy "
        f"{profile.busy_fraction:.0%} of the run, {profile.mean_running:.2f} requests running "
        f"when busy{cpu}", highlight=False,
    )  # fmt: skip
