"""`configspec edge`: a real draft on this machine speculating against `configspec serve`.

The draft loop is the in-process decoder's (configspec/speculative/decoder.py); only the target
side differs: `RemoteVerifier` sends each round over the session's gRPC stream and reads the
verdict. All traffic goes through the edge's relay (relay.py), which counts the bytes on the
wire and, when asked, emulates a network delay and link rate. The e2e profile keeps every round
with its draft time, time on the wire, the server's queue wait and verify time, batch size and
bytes, and is rewritten atomically after every prompt.
"""

from __future__ import annotations

import queue
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np

from configspec.errors import ConfigspecError
from configspec.profiles.environment import Environment
from configspec.profiles.io import default_output, save_profile
from configspec.profiles.serving import (
    E2EProfile,
    EdgeRoundSample,
    EdgeSettings,
    NetworkSettings,
    PromptRun,
)  # fmt: skip
from configspec.profiles.summary import Summary
from configspec.progress import console, step_progress
from configspec.serving.proto import verify_pb2 as pb
from configspec.serving.proto import verify_pb2_grpc as pb_grpc
from configspec.serving.protocol import GRPC_OPTIONS, MODES, PROTOCOL_VERSION, encode_q
from configspec.serving.relay import LinkShape, Relay
from configspec.speculative.decoder import (
    DecodeConfig,
    RoundRecord,
    SpeculativeDecoder,
    Verdict,
    Verifier,
)  # fmt: skip

RTT_PINGS = 10
CONNECT_TIMEOUT_S = 5.0
ROUND_TIMEOUT_S = 300.0  # a per-round deadline: no verdict by then means the server is stuck


class ServerGone(Exception):
    """The server stopped answering mid-session (killed, network down, deadline passed)."""


@dataclass(frozen=True)
class EdgeOptions:
    models: Path
    server: str
    draft: str
    quant: str | None = None
    k: int = 4
    tau: float | None = None
    mode: str = "greedy"
    temperature: float = 0.0
    top_n: int | None = None
    prompts: Path | None = None
    n_prompts: int | None = 4
    max_new_tokens: int = 64
    threads: int = 2
    seed: int = 0
    delay_ms: float = 0.0
    bandwidth_mbit: float | None = None
    device: str | None = None
    out: Path | None = None


def parse_address(server: str) -> tuple[str, int]:
    host, sep, port = server.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigspecError(f"--server takes HOST:PORT, like 127.0.0.1:50051 (got {server!r})")
    return host.strip("[]"), int(port)


def server_error(exc: grpc.RpcError, where: str) -> ConfigspecError:
    code = exc.code()
    if code == grpc.StatusCode.UNAVAILABLE:
        return ConfigspecError(f"no verification server answers at {where} (start one with "
                               "`configspec serve`, or check --server)")  # fmt: skip
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return ConfigspecError(f"the server at {where} refused: {exc.details()}")
    return ConfigspecError(f"the server at {where} failed: {code.name}: {exc.details()}")


class Connection:
    """A gRPC channel to the server through the edge's relay."""

    def __init__(self, server: str, shape: LinkShape):
        host, port = parse_address(server)
        self.where = server
        self.relay = Relay(host, port, shape).start()
        self.channel = grpc.insecure_channel(
            f"127.0.0.1:{self.relay.port}",
            options=GRPC_OPTIONS,
        )  # fmt: skip
        self.stub = pb_grpc.VerifierStub(self.channel)

    def hello(self) -> pb.HelloReply:
        try:
            return self.stub.Hello(pb.HelloRequest(protocol_version=PROTOCOL_VERSION),
                                   timeout=CONNECT_TIMEOUT_S)  # fmt: skip
        except grpc.RpcError as exc:
            raise server_error(exc, self.where) from exc

    def measure_rtt(self, n: int = RTT_PINGS) -> list[float]:
        """Round trips of the Hello call (its server work is negligible) through the relay."""
        samples = []
        for _ in range(n):
            t0 = time.perf_counter()
            self.hello()
            samples.append(time.perf_counter() - t0)
        return samples

    def close(self) -> None:
        self.channel.close()
        self.relay.stop()


class RemoteVerifier(Verifier):
    """The target behind `configspec serve`: one Session stream per sequence."""

    def __init__(self, connection: Connection, hello: pb.HelloReply, family: str, fingerprint: str,
                 k_max: int):  # fmt: skip
        self.connection = connection
        self.n_ctx = hello.n_ctx_per_session
        self.family = family
        self.fingerprint = fingerprint
        self.k_max = k_max
        self._requests: queue.Queue | None = None
        self.opened: pb.Opened | None = None  # the last session's Opened (prefill timings)

    def _send(self, **body) -> None:
        self._requests.put(pb.EdgeMessage(**body))

    def _next(self) -> pb.ServerMessage:
        try:
            return next(self._responses)
        except StopIteration as exc:
            raise ServerGone("the server ended the session without an answer") from exc
        except grpc.RpcError as exc:
            raise ServerGone(f"{exc.code().name}: {exc.details()}") from exc

    def _expect(self, which: str):
        reply = self._next()
        body = reply.WhichOneof("body")
        if body == "error":
            code = pb.Error.Code.Name(reply.error.code)
            if code in ("SHUTDOWN", "IDLE", "INTERNAL"):  # not a refusal of what we sent
                raise ServerGone(f"{code}: {reply.error.message}")
            raise ConfigspecError(f"the server refused ({code}): {reply.error.message}")
        if body != which:
            raise ServerGone(f"expected {which}, the server sent {body}")
        return getattr(reply, which)

    def start(self, prompt: list[int], config: DecodeConfig) -> None:
        """Send Open; the server prefills while the draft prefills here (ready() waits)."""
        self.config = config
        self._requests = queue.Queue()
        self._responses = self.connection.stub.Session(iter(self._requests.get, None),
                                                       timeout=None)  # fmt: skip
        self._send(open=pb.Open(
            protocol_version=PROTOCOL_VERSION, family=self.family,
            tokenizer_fingerprint=self.fingerprint, prompt=prompt,
            mode=MODES["greedy" if config.greedy else "sampled"],
            temperature=config.temperature, seed=config.seed,
            max_new_tokens=config.max_new_tokens, k_max=self.k_max,
        ))  # fmt: skip
        self._index = 0

    def ready(self) -> None:
        self.opened = self._expect("opened")

    def verify(self, pending, drafted, q_rows) -> Verdict:
        up0, down0 = self.connection.relay.counters()
        t0 = time.perf_counter()
        self._send(round=pb.Round(index=self._index, committed=pending, draft=drafted,
                                  **encode_q(q_rows, self.config.top_n)))  # fmt: skip
        v = self._expect("verdict")
        wait_s = time.perf_counter() - t0
        up1, down1 = self.connection.relay.counters()
        self._index += 1
        return Verdict(
            accepted=v.accepted, token=v.token, target_argmax=[*drafted[: v.accepted], v.token],
            net_s=max(0.0, wait_s - v.server_s), verify_s=v.verify_s, server_queue_s=v.queue_s,
            server_s=v.server_s, batch_size=v.batch_size, batch_tokens=v.batch_tokens,
            bytes_up=up1 - up0, bytes_down=down1 - down0,
        )  # fmt: skip

    def finish(self) -> None:
        if self._requests is None:
            return
        try:
            self._send(close=pb.Close())
            self._expect("closed")
        except (ServerGone, ConfigspecError):
            pass  # closing is best effort; the server frees idle sessions itself
        finally:
            self._requests.put(None)
            self._requests = None

    def representable(self, q: np.ndarray) -> np.ndarray:
        q16 = q.astype("<f2").astype(np.float64)
        return q16 / q16.sum()


def _round_sample(r: RoundRecord) -> EdgeRoundSample:
    return EdgeRoundSample(
        drafted=len(r.drafted), accepted=r.accepted, emitted=len(r.emitted), draft_s=r.draft_s,
        wire_s=r.net_s, server_queue_s=r.server_queue_s or 0.0, verify_s=r.verify_s,
        server_s=r.server_s or 0.0, other_s=r.other_s, total_s=r.total_s,
        batch_size=r.batch_size or 0, bytes_up=r.bytes_up or 0, bytes_down=r.bytes_down or 0,
    )  # fmt: skip


def summarise(profile: E2EProfile) -> None:
    """Fill the profile's summary fields from its prompts' rounds."""
    rounds = [r for p in profile.prompts for r in p.rounds]
    if not rounds:
        return
    tokens = sum(p.tokens for p in profile.prompts)
    decode_s = sum(p.decode_s for p in profile.prompts)
    profile.goodput_tok_s = tokens / decode_s if decode_s > 0 else 0.0
    profile.tokens_per_round = sum(r.emitted for r in rounds) / len(rounds)
    profile.drafted_per_round = sum(r.drafted for r in rounds) / len(rounds)
    # inter-token latency: a round's tokens arrive together; each gets the round's time / count
    itl = [r.total_s / r.emitted for r in rounds for _ in range(r.emitted)]
    profile.inter_token_latency_s = {f"p{q}": float(np.percentile(itl, q)) for q in (50, 90, 99)}
    profile.ttft_s = Summary.of([p.ttft_s for p in profile.prompts])
    width = max(r.drafted for r in rounds)
    profile.acceptance_by_position = [
        sum(r.accepted > i for r in rounds) / max(1, sum(r.drafted > i for r in rounds))
        for i in range(width)
    ]
    profile.bytes_up_per_round = statistics.fmean(r.bytes_up for r in rounds)
    profile.bytes_down_per_round = statistics.fmean(r.bytes_down for r in rounds)


def _load_draft(options: EdgeOptions):
    from configspec.registry import load_registry
    from configspec.sources.resolve import model_file

    registry = load_registry(options.models)
    try:
        model = registry.get(options.draft)
    except KeyError as exc:
        raise ConfigspecError(str(exc.args[0])) from exc
    if model.role != "draft":
        raise ConfigspecError(f"{options.draft} is a {model.role}, not a draft")
    if model.backend != "llama_cpp":
        raise ConfigspecError(
            f"{model.name}: the edge drafts with llama.cpp; register a GGUF draft"
        )
    quant = (options.quant or model.quant).upper()
    return model, quant, model_file(model, quant)


def _check_options(options: EdgeOptions) -> None:
    if options.k < 1:
        raise ConfigspecError(f"--k must be at least 1 (got {options.k})")
    if options.mode not in MODES:
        raise ConfigspecError(f"--mode is greedy or sampled, not {options.mode!r}")
    if options.mode == "sampled" and not options.temperature > 0:
        raise ConfigspecError("--mode sampled needs --temperature > 0")
    if options.delay_ms < 0 or (options.bandwidth_mbit is not None and options.bandwidth_mbit <= 0):
        raise ConfigspecError("--delay-ms must be >= 0 and --bandwidth-mbit > 0")


def run_edge(options: EdgeOptions) -> tuple[E2EProfile, Path]:
    from configspec.alignment.prompts import DEFAULT_PROMPTS, load_prompts, select_prompts
    from configspec.alignment.tokenizers import tokenizer_fingerprint
    from configspec.runners import open_runner
    from configspec.sources.cache import file_sha256

    _check_options(options)
    model, quant, path = _load_draft(options)
    prompts = select_prompts(load_prompts(options.prompts), options.n_prompts)
    shape = LinkShape(options.delay_ms / 1000.0,
                      options.bandwidth_mbit * 1e6 if options.bandwidth_mbit else None)  # fmt: skip
    connection = Connection(options.server, shape)
    try:
        hello = connection.hello()
        rtt = connection.measure_rtt()
        draft = open_runner(model.backend, path, threads=options.threads,
                            n_ctx=hello.n_ctx_per_session)  # fmt: skip
        try:
            return _run_prompts(options, connection, hello, rtt, draft, model, quant, path,
                                prompts, tokenizer_fingerprint(draft), file_sha256(path),
                                str(options.prompts or DEFAULT_PROMPTS))  # fmt: skip
        finally:
            draft.close()
    finally:
        connection.close()


def _run_prompts(options, connection, hello, rtt, draft, model, quant, path, prompts,
                 fingerprint, sha, prompts_label):  # fmt: skip
    verifier = RemoteVerifier(connection, hello, model.family, fingerprint, options.k)
    decoder = SpeculativeDecoder(draft, verifier)
    config = DecodeConfig(
        k=options.k, temperature=options.temperature if options.mode == "sampled" else 0.0,
        tau=options.tau, seed=options.seed, max_new_tokens=options.max_new_tokens,
        stop_tokens=draft.stop_tokens(), top_n=options.top_n,
    )  # fmt: skip
    network = NetworkSettings(emulation="relay" if options.delay_ms or options.bandwidth_mbit
                              else "none", added_rtt_ms=options.delay_ms,
                              bandwidth_mbit_s=options.bandwidth_mbit)  # fmt: skip
    profile = E2EProfile(
        environment=Environment.capture(options.device, options.threads, draft.backend,
                                        draft.backend_version),
        settings=EdgeSettings(
            server=options.server, target=hello.target,
            target_file_sha256=hello.target_file_sha256, draft=model.name, quant=quant,
            file=str(path), file_sha256=sha, k=options.k, tau=options.tau, mode=options.mode,
            temperature=config.temperature, top_n=options.top_n,
            max_new_tokens=options.max_new_tokens, threads=options.threads,
            prompts=prompts_label, seed=options.seed, network=network,
        ),
        measured_rtt_s=Summary.of(rtt),
    )  # fmt: skip
    out = options.out or default_output(profile.environment.device, "e2e")
    console.print(f"edge: {model.name} {quant} drafting for {hello.target} at {options.server} "
                  f"(measured round trip {1e3 * statistics.median(rtt):.2f} ms median"
                  + (f"; emulated: +{options.delay_ms:g} ms round trip" if options.delay_ms else "")
                  + (f", {options.bandwidth_mbit:g} Mbit/s" if options.bandwidth_mbit else "")
                  + ")", highlight=False)  # fmt: skip
    current: list[RoundRecord] = []
    try:
        with step_progress("speculating", len(prompts)) as (advance, describe, _):
            for prompt in prompts:
                describe(f"prompt {prompt.id}")
                text = draft.chat_prompt([m.model_dump() for m in prompt.messages])
                tokens = draft.tokenize(text, add_special=True)
                current.clear()
                result = decoder.generate(tokens, config, on_round=current.append)
                first = result.rounds[0] if result.rounds else None
                profile.prompts.append(PromptRun(
                    id=prompt.id, prompt_tokens=len(tokens), tokens=len(result.tokens),
                    ttft_s=result.prefill_s + (first.total_s if first else 0.0),
                    decode_s=result.decode_s, text=draft.detokenize(result.tokens),
                    output_ids=result.tokens, server_prefill_s=verifier.opened.prefill_s,
                    rounds=[_round_sample(r) for r in result.rounds],
                ))  # fmt: skip
                summarise(profile)
                save_profile(profile, out)
                advance()
    except (ServerGone, KeyboardInterrupt) as exc:
        profile.interrupted = True
        if current:
            profile.prompts.append(PromptRun(
                id=f"{prompt.id} (interrupted)", prompt_tokens=len(tokens),
                tokens=sum(r.emitted for r in map(_round_sample, current)), ttft_s=0.0,
                decode_s=sum(r.total_s for r in current), text="",
                rounds=[_round_sample(r) for r in current],
            ))  # fmt: skip
        summarise(profile)
        profile.warnings.append(f"interrupted during prompt {prompt.id}: {exc}")
        save_profile(profile, out)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise ConfigspecError(f"the server went away during prompt {prompt.id} ({exc}); kept "
                              f"{sum(len(p.rounds) for p in profile.prompts)} rounds in {out}, "
                              "marked interrupted") from exc  # fmt: skip
    print_e2e(profile)
    console.print(f"e2e profile written to {out}")
    return profile, out


def print_e2e(profile: E2EProfile) -> None:
    s = profile.settings
    policy = f"K<={s.k} tau={s.tau:g}" if s.tau is not None else f"K={s.k}"
    rounds = [r for p in profile.prompts for r in p.rounds]
    n = max(1, len(rounds))
    mean = lambda f: 1e3 * sum(f(r) for r in rounds) / n  # noqa: E731
    itl = profile.inter_token_latency_s
    console.print(
        f"{s.draft} {s.quant} {policy} ({s.mode}) against {s.target}: goodput "
        f"{profile.goodput_tok_s:.2f} tok/s, {profile.tokens_per_round:.2f} tokens/round "
        f"({profile.drafted_per_round:.2f} drafted), inter-token latency p50/p90/p99 "
        f"{1e3 * itl.get('p50', 0):.0f}/{1e3 * itl.get('p90', 0):.0f}/{1e3 * itl.get('p99', 0):.0f} "
        f"ms, TTFT {1e3 * (profile.ttft_s.mean if profile.ttft_s else 0):.0f} ms\n"
        f"per round: draft {mean(lambda r: r.draft_s):.1f} ms, wire {mean(lambda r: r.wire_s):.1f} "
        f"ms, server queue {mean(lambda r: r.server_queue_s):.1f} ms, verify "
        f"{mean(lambda r: r.verify_s):.1f} ms; {profile.bytes_up_per_round:.0f} B up, "
        f"{profile.bytes_down_per_round:.0f} B down", highlight=False,
    )  # fmt: skip
