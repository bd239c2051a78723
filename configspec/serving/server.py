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
    ServerRoundSample,
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


def load_target(options: ServeOptions):
    """(runner, TargetInfo, quant, path) for the registry's target."""
    from configspec.alignment.tokenizers import tokenizer_fingerprint
    from configspec.registry import load_registry
    from configspec.runners import open_runner
    from configspec.sources.cache import file_sha256
    from configspec.sources.resolve import model_file

    registry = load_registry(options.models)
    if options.target:
        try:
            model = registry.get(options.target)
        except KeyError as exc:
            raise ConfigspecError(str(exc.args[0])) from exc
    elif registry.targets:
        model = registry.targets[0]
    else:
        raise ConfigspecError(f"{options.models} has no target model to serve")
    if model.backend != "llama_cpp":
        raise ConfigspecError(f"{model.name}: serving with the {model.backend} backend is not "
                              "built yet; register a llama_cpp (GGUF) target")  # fmt: skip
    quant = (options.quant or model.quant).upper()
    path = model_file(model, quant)
    runner = open_runner(model.backend, path, threads=options.threads,
                         n_ctx=options.n_ctx_per_session)  # fmt: skip
    info = TargetInfo(model.name, model.family, file_sha256(path), tokenizer_fingerprint(runner),
                      runner.n_vocab)  # fmt: skip
    return runner, info, quant, path


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
        round_samples=[ServerRoundSample(**vars(r)) for r in rounds],
    )  # fmt: skip


def run_server(options: ServeOptions) -> tuple[ServingProfile, Path]:
    if not is_loopback(options.host):
        console.print(f"[yellow]warning:[/yellow] listening on {options.host}: anyone who can "
                      "reach this port can use the target; there is no authentication")  # fmt: skip
    runner, target, quant, path = load_target(options)
    engine = VerifyEngine(
        runner, options.max_sessions, options.n_ctx_per_session, options.max_batch,
        options.batch_window_ms / 1000.0, options.prefill_chunk, options.idle_timeout_s,
    )  # fmt: skip
    metrics = ServerMetrics(lambda: engine.open_sessions)
    engine.on_batch = metrics.on_batch
    environment = Environment.capture(options.device, options.threads, "llama_cpp",
                                      runner.backend_version)  # fmt: skip
    try:
        port, duration, stopped_by = asyncio.run(_serve(options, engine, target, metrics))
    finally:
        engine.stop()
        runner.close()
    settings = ServeSettings(
        target=target.name, quant=quant, file=str(path), file_sha256=target.file_sha256,
        backend="llama_cpp", threads=options.threads, host=options.host, port=port,
        protocol_version=PROTOCOL_VERSION, max_sessions=options.max_sessions,
        n_ctx_per_session=options.n_ctx_per_session, max_batch=options.max_batch,
        batch_window_s=options.batch_window_ms / 1000.0, prefill_chunk_tokens=engine.chunk_tokens,
        idle_timeout_s=options.idle_timeout_s,
    )  # fmt: skip
    profile = serving_profile(engine, settings, environment, duration, stopped_by)
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


def batch_size_mean(profile: ServingProfile) -> float:
    h = profile.batch_size_histogram
    n = sum(h.values())
    return float(np.dot(list(h.keys()), list(h.values())) / n) if n else 0.0
