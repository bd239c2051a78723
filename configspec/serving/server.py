"""`configspec serve`: the verification server. A gRPC service (grpc.aio) around VerifyEngine.

Each Session stream is read by one task that turns messages into engine calls; the engine's
answers come back through a per-stream queue (the engine thread hands them over with
call_soon_threadsafe). A malformed or out-of-order message ends that session with an Error
and a log line; other sessions are not affected. On Ctrl-C / SIGTERM, after --duration-s, or
after --stop-after-sessions sessions have closed, the server stops, frees every session and
writes its serving profile atomically.
"""

from __future__ import annotations

import asyncio
import ipaddress
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np

from configspec.errors import ConfigspecError
from configspec.profiles.environment import Environment
from configspec.profiles.io import default_output, save_profile
from configspec.profiles.serving import (
    BatchSample,
    ServeSettings,
    ServingProfile,
)  # fmt: skip
from configspec.profiles.summary import Summary
from configspec.progress import console
from configspec.serving.engine import EngineError, Opened, RoundJob, RoundResult, VerifyEngine
from configspec.serving.metrics import ServerMetrics
from configspec.serving.proto import verify_pb2 as pb
from configspec.serving.proto import verify_pb2_grpc as pb_grpc
from configspec.serving.protocol import GRPC_OPTIONS, PROTOCOL_VERSION, decode_q, version_refusal


@dataclass(frozen=True)
class ServeOptions:
    models: Path
    target: str | None = None
    quant: str | None = None
    host: str = "127.0.0.1"
    port: int = 50051
    threads: int = 2
    max_sessions: int = 8
    n_ctx_per_session: int = 2048
    max_batch: int = 8
    batch_window_ms: float = 5.0
    prefill_chunk: int | None = None  # tokens; None: about one batching window
    idle_timeout_s: float = 120.0
    duration_s: float | None = None
    stop_after_sessions: int | None = None
    metrics_port: int | None = None
    log_every_s: float = 10.0
    port_file: Path | None = None
    device: str | None = None
    out: Path | None = None
    engine: str = "llama_cpp"  # llama_cpp | vllm (docs/vllm.md)
    vllm_url: str | None = None  # a running vLLM server; None: start one
    vllm_python: str | None = None
    vllm_top_logprobs: int = 20
    vllm_enforce_eager: bool = False


ENGINES = ("llama_cpp", "vllm")


@dataclass(frozen=True)
class TargetInfo:
    name: str
    family: str
    file_sha256: str
    fingerprint: str
    n_vocab: int


def error_message(code: str, message: str) -> pb.ServerMessage:
    return pb.ServerMessage(error=pb.Error(code=pb.Error.Code.Value(code), message=message))


class VerifierService(pb_grpc.VerifierServicer):
    def __init__(self, engine: VerifyEngine, target: TargetInfo):
        self.engine = engine
        self.target = target

    async def Hello(self, request: pb.HelloRequest, context) -> pb.HelloReply:  # noqa: N802
        if request.protocol_version != PROTOCOL_VERSION:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                version_refusal(request.protocol_version))  # fmt: skip
        e = self.engine
        return pb.HelloReply(
            protocol_version=PROTOCOL_VERSION, target=self.target.name,
            target_file_sha256=self.target.file_sha256, family=self.target.family,
            tokenizer_fingerprint=self.target.fingerprint, n_vocab=self.target.n_vocab,
            n_ctx_per_session=e.n_ctx, max_sessions=e.max_sessions,
            open_sessions=e.open_sessions, max_batch=e.max_batch, batch_window_s=e.window_s,
        )  # fmt: skip

    async def Session(self, request_iterator, context):  # noqa: N802
        loop = asyncio.get_running_loop()
        out: asyncio.Queue = asyncio.Queue()

        def send(message: pb.ServerMessage | None) -> None:
            loop.call_soon_threadsafe(out.put_nowait, message)

        state: dict = {"session": None}
        reader = asyncio.create_task(self._read(request_iterator, state, send, context.peer()))
        try:
            while (message := await out.get()) is not None:
                yield message
                if message.WhichOneof("body") in ("error", "closed"):
                    break
        finally:
            reader.cancel()
            if state["session"] is not None:
                self.engine.close(state["session"])

    async def _read(self, requests, state: dict, send, peer: str) -> None:
        try:
            async for message in requests:
                which = message.WhichOneof("body")
                if which == "open" and state["session"] is None:
                    state["session"] = self._open(message.open, send)
                elif which == "round" and state["session"] is not None:
                    self._round(state["session"], message.round, send)
                elif which == "close" and state["session"] is not None:
                    s = state["session"]
                    self.engine.close(s)
                    send(pb.ServerMessage(closed=pb.Closed(rounds=s.rounds, tokens=s.tokens)))
                    return
                else:
                    raise EngineError("BAD_MESSAGE", f"unexpected {which or 'empty'} message "
                                      f"{'before Open' if state['session'] is None else 'after Open'}")  # fmt: skip
        except EngineError as exc:
            if exc.code == "BAD_MESSAGE":
                console.print(f"[yellow]refused a malformed message from {peer}:[/yellow] {exc}",
                              highlight=False)  # fmt: skip
            send(error_message(exc.code, str(exc)))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - one broken stream must not stop the server
            console.print(f"[red]session from {peer} failed:[/red] {exc!r}", highlight=False)
            send(error_message("INTERNAL", f"server error: {exc}"))

    def _open(self, msg: pb.Open, send):
        if msg.protocol_version != PROTOCOL_VERSION:
            raise EngineError("VERSION", version_refusal(msg.protocol_version))
        if msg.tokenizer_fingerprint != self.target.fingerprint:
            raise EngineError("TOKENIZER", f"the draft's tokenizer (family {msg.family!r}, "
                              f"fingerprint {msg.tokenizer_fingerprint}) differs from the target "
                              f"{self.target.name}'s (family {self.target.family!r}, fingerprint "
                              f"{self.target.fingerprint}); pick a draft of the target's family")  # fmt: skip
        if msg.mode not in (pb.GREEDY, pb.SAMPLED):
            raise EngineError("BAD_MESSAGE", "Open.mode must be GREEDY or SAMPLED")
        if msg.mode == pb.SAMPLED and not msg.temperature > 0:
            raise EngineError("BAD_MESSAGE", "sampled mode needs a temperature > 0")
        prompt = list(msg.prompt)
        if not prompt or max(prompt) >= self.target.n_vocab:
            raise EngineError(
                "BAD_MESSAGE", "the prompt is empty or has ids outside the vocabulary"
            )
        temperature = msg.temperature if msg.mode == pb.SAMPLED else 0.0

        def opened(o: Opened) -> None:
            send(pb.ServerMessage(opened=pb.Opened(
                session_id=o.session_id, prompt_tokens=o.prompt_tokens, queue_s=o.queue_s,
                prefill_s=o.prefill_s, prefill_chunks=o.prefill_chunks,
            )))  # fmt: skip

        need = len(prompt) + msg.max_new_tokens + msg.k_max + 1
        return self.engine.open(prompt, temperature, msg.seed, need, opened,
                                lambda e: send(error_message(e.code, str(e))))  # fmt: skip

    def _round(self, session, msg: pb.Round, send) -> None:
        committed, drafted = list(msg.committed), list(msg.draft)
        if not committed:
            raise EngineError("BAD_MESSAGE", "a round needs at least one committed token (the "
                              "last prompt token, or the previous round's token)")  # fmt: skip
        if max(committed + drafted) >= self.target.n_vocab:
            raise EngineError("BAD_MESSAGE", "a token id outside the vocabulary")
        try:
            q_rows = decode_q(msg, self.target.n_vocab)
        except ValueError as exc:
            raise EngineError("BAD_MESSAGE", str(exc)) from exc
        if session.temperature > 0 and drafted and q_rows[0] is None:
            raise EngineError("BAD_MESSAGE", "sampled mode: the round lacks the draft's q")

        def deliver(result: RoundResult | EngineError) -> None:
            if isinstance(result, EngineError):
                send(error_message(result.code, str(result)))
                return
            send(pb.ServerMessage(verdict=pb.Verdict(
                index=result.index, accepted=result.accepted, token=result.token,
                queue_s=result.queue_s, verify_s=result.verify_s, batch_size=result.batch_size,
                batch_tokens=result.batch_tokens, server_s=result.server_s,
            )))  # fmt: skip

        self.engine.submit(RoundJob(session, msg.index, committed, drafted, q_rows,
                                    self.engine.clock(), deliver))  # fmt: skip


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def registry_target(models: Path, name: str | None, quant: str | None):
    """(model entry, quant, file) of the target to serve: `name`, else the registry's first."""
    from configspec.registry import load_registry
    from configspec.sources.resolve import model_file

    registry = load_registry(models)
    if name:
        try:
            model = registry.get(name)
        except KeyError as exc:
            raise ConfigspecError(str(exc.args[0])) from exc
    elif registry.targets:
        model = registry.targets[0]
    else:
        raise ConfigspecError(f"{models} has no target model to serve")
    if model.backend not in ("llama_cpp", "transformers"):
        raise ConfigspecError(f"{model.name}: serving with the {model.backend} backend is not "
                              "built; register a llama_cpp or transformers target")  # fmt: skip
    quant = (quant or model.quant).upper()
    return model, quant, model_file(model, quant)


def load_target(options: ServeOptions):
    """(runner, TargetInfo, quant, path, close) for the registry's target; `close` frees the
    runner and stops a vLLM server configspec started."""
    from configspec.alignment.tokenizers import tokenizer_fingerprint
    from configspec.runners import open_runner
    from configspec.sources.cache import model_sha256

    if options.engine not in ENGINES:
        raise ConfigspecError(f"--engine is one of {', '.join(ENGINES)}, not {options.engine!r}")
    model, quant, path = registry_target(options.models, options.target, options.quant)
    if options.engine == "vllm":
        from configspec.vllm_backend.target import (
            VllmTargetOptions,
            open_vllm_target,
            reference_tokenizer,
        )

        target = open_vllm_target(model, reference_tokenizer(path)[0], VllmTargetOptions(
            url=options.vllm_url, python=options.vllm_python, threads=options.threads,
            n_ctx=options.n_ctx_per_session, max_sessions=options.max_sessions,
            top_n=options.vllm_top_logprobs, enforce_eager=options.vllm_enforce_eager,
        ), log=lambda line: console.print(line, highlight=False))  # fmt: skip
        runner, fingerprint, close = target.runner, target.fingerprint, target.close
    else:
        runner = open_runner(model.backend, path, threads=options.threads,
                             n_ctx=options.n_ctx_per_session, quant=quant)  # fmt: skip
        fingerprint, close = tokenizer_fingerprint(runner), runner.close
    info = TargetInfo(model.name, model.family, model_sha256(path), fingerprint, runner.n_vocab)
    return runner, info, quant, path, close


def _summary(values: list[float]) -> Summary | None:
    return Summary.of(values) if values else None


def serving_profile(
    engine: VerifyEngine, settings: ServeSettings, environment: Environment, duration_s: float,
    stopped_by: str,
) -> ServingProfile:  # fmt: skip
    st = engine.stats
    rounds = st.rounds
    verifying = [b for b in st.batches if b.rounds]
    span = (verifying[-1].t_s + verifying[-1].verify_s - verifying[0].t_s) if verifying else 0.0
    verified = sum(r.accepted + 1 for r in rounds)
    histogram: dict[int, int] = {}
    for b in verifying:
        histogram[b.rounds] = histogram.get(b.rounds, 0) + 1
    return ServingProfile(
        environment=environment, settings=settings, duration_s=duration_s, stopped_by=stopped_by,
        sessions_opened=st.sessions_opened, sessions_closed=st.sessions_closed,
        sessions_refused=st.sessions_refused, sessions_idle_closed=st.sessions_idle_closed,
        rounds=len(rounds), verified_tokens=verified,
        draft_tokens=sum(r.drafted for r in rounds), accepted_tokens=sum(r.accepted for r in rounds),
        prefill_tokens=st.prefill_tokens,
        verified_tokens_per_s=verified / span if span > 0 else 0.0,
        batch_size_histogram=dict(sorted(histogram.items())),
        queue_s=_summary([r.queue_s for r in rounds]),
        verify_s=_summary([b.verify_s for b in verifying]),
        server_s=_summary([r.server_s for r in rounds]),
        batches=[BatchSample(**vars(b)) for b in st.batches],
        round_samples=list(rounds),
    )  # fmt: skip


def run_server(options: ServeOptions) -> tuple[ServingProfile, Path]:
    if not is_loopback(options.host):
        console.print(f"[yellow]warning:[/yellow] listening on {options.host}: anyone who can "
                      "reach this port can use the target; there is no authentication")  # fmt: skip
    runner, target, quant, path, close = load_target(options)
    try:
        # vLLM re-reads the whole context every round, so a prefill "chunk" costs nothing until
        # then: the prompt goes in at once (docs/vllm.md)
        chunk = options.prefill_chunk or (
            options.n_ctx_per_session if runner.backend == "vllm" else None
        )
        engine = VerifyEngine(
            runner, options.max_sessions, options.n_ctx_per_session, options.max_batch,
            options.batch_window_ms / 1000.0, chunk, options.idle_timeout_s,
        )  # fmt: skip
        metrics = ServerMetrics(lambda: engine.open_sessions)
        engine.on_batch = metrics.on_batch
        environment = Environment.capture(options.device, options.threads, runner.backend,
                                          runner.backend_version)  # fmt: skip
        counters = engine_counters_start(runner)
        try:
            port, duration, stopped_by = asyncio.run(_serve(options, engine, target, metrics))
        finally:
            engine.stop()
        cross_check = engine_counters_check(runner, counters)
    finally:
        close()
    settings = ServeSettings(
        target=target.name, quant=quant, file=str(path), file_sha256=target.file_sha256,
        backend=runner.backend, threads=options.threads, host=options.host, port=port,
        protocol_version=PROTOCOL_VERSION, max_sessions=options.max_sessions,
        n_ctx_per_session=options.n_ctx_per_session, max_batch=options.max_batch,
        batch_window_s=options.batch_window_ms / 1000.0, prefill_chunk_tokens=engine.chunk_tokens,
        idle_timeout_s=options.idle_timeout_s,
    )  # fmt: skip
    profile = serving_profile(engine, settings, environment, duration, stopped_by)
    if cross_check is not None:
        profile.engine_counters, warning = cross_check
        profile.warnings += [warning] if warning else []
    out = options.out or default_output(environment.device, "serving")
    save_profile(profile, out)
    console.print(f"served {profile.sessions_opened} session(s), {profile.rounds} rounds, "
                  f"{profile.verified_tokens} verified tokens ({profile.verified_tokens_per_s:.1f} "
                  f"tok/s while serving); batch sizes {profile.batch_size_histogram}; "
                  f"profile written to {out}", highlight=False)  # fmt: skip
    return profile, out


async def _serve(options: ServeOptions, engine: VerifyEngine, target: TargetInfo, metrics):
    server = grpc.aio.server(options=GRPC_OPTIONS)
    pb_grpc.add_VerifierServicer_to_server(VerifierService(engine, target), server)
    address = f"[{options.host}]" if ":" in options.host else options.host
    try:
        port = server.add_insecure_port(f"{address}:{options.port}")
    except RuntimeError as exc:
        raise ConfigspecError(f"cannot listen on {options.host}:{options.port}: {exc}") from exc
    engine.start()
    await server.start()
    started = time.monotonic()
    if options.metrics_port is not None:
        metrics.serve_http(options.host, options.metrics_port)
    console.print(f"serving {target.name} on {options.host}:{port} (protocol {PROTOCOL_VERSION}, "
                  f"max {options.max_sessions} sessions, batches of up to {options.max_batch}, "
                  f"window {options.batch_window_ms:g} ms, prefill chunks of "
                  f"{engine.chunk_tokens} tokens)"
                  + (f"; metrics on http://{options.host}:{options.metrics_port}/metrics"
                     if options.metrics_port is not None else ""), highlight=False)  # fmt: skip
    if options.port_file:
        options.port_file.write_text(f"{port}\n")
    stop = asyncio.Event()
    reason = {"why": "signal"}
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async def watch() -> None:
        last_log = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.1)
            now = time.monotonic()
            if options.duration_s is not None and now - started >= options.duration_s:
                reason["why"] = "duration"
                stop.set()
            closed = engine.stats.sessions_closed
            if options.stop_after_sessions is not None and closed >= options.stop_after_sessions:
                reason["why"] = "sessions"
                stop.set()
            if options.log_every_s and now - last_log >= options.log_every_s:
                last_log = now
                console.print(metrics.log_line(engine.open_sessions), highlight=False)

    watcher = asyncio.create_task(watch())
    await stop.wait()
    watcher.cancel()
    engine.stop()  # answers every waiting round with SHUTDOWN before the streams go
    await server.stop(grace=1.0)
    return port, time.monotonic() - started, reason["why"]


def engine_counters_start(runner) -> dict[str, float] | None:
    """vLLM's own counters before serving (None for engines without them)."""
    if runner.backend != "vllm":
        return None
    from configspec.vllm_backend.counters import snapshot

    return snapshot(runner.client)


def engine_counters_check(runner, before: dict[str, float] | None):
    if before is None:
        return None
    from configspec.vllm_backend.counters import cross_check

    return cross_check(runner.client, before)


def batch_size_mean(profile: ServingProfile) -> float:
    h = profile.batch_size_histogram
    n = sum(h.values())
    return float(np.dot(list(h.keys()), list(h.values())) / n) if n else 0.0
