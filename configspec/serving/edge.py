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
import socket
import statistics
import threading
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
from configspec.serving.overlap import (
    DraftPower,
    draft_energy,
    find_draft_power,
    overlap_summary,
)  # fmt: skip
from configspec.serving.proto import verify_pb2 as pb
from configspec.serving.proto import verify_pb2_grpc as pb_grpc
from configspec.serving.protocol import GRPC_OPTIONS, MODES, PROTOCOL_VERSION, encode_q
from configspec.serving.relay import LinkShape, Relay
from configspec.speculative.decoder import (
    OVERLAPS,
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
    overlap: str = "none"  # none | proactive
    drafting_profile: Path | None = None  # power for the drafting energy (default: newest)
    results: Path = Path("results")


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
    """The target behind `configspec serve`: one Session stream per sequence.

    The stream's two halves are separate: submit() puts a Round on the request queue, a reader
    thread takes the server's messages off the response stream as they come (timestamped), and
    wait() collects the verdict; arrived() tells the decoder whether it is here yet, so the
    draft can go on drafting while a round is in flight (proactive drafting)."""

    def __init__(self, connection: Connection, hello: pb.HelloReply, family: str, fingerprint: str,
                 k_max: int):  # fmt: skip
        self.connection = connection
        self.n_ctx = hello.n_ctx_per_session
        self.family = family
        self.fingerprint = fingerprint
        self.k_max = k_max
        self._requests: queue.Queue | None = None
        self._inbox: queue.Queue = queue.Queue()
        self.opened: pb.Opened | None = None  # the last session's Opened (prefill timings)

    def _send(self, **body) -> None:
        self._requests.put(pb.EdgeMessage(**body))

    @staticmethod
    def _read(responses, inbox: queue.Queue) -> None:
        """The reader thread: (message, arrival time) per server message, then the end."""
        try:
            for message in responses:
                inbox.put((message, time.perf_counter()))
            inbox.put(ServerGone("the server ended the session without an answer"))
        except grpc.RpcError as exc:
            inbox.put(ServerGone(f"{exc.code().name}: {exc.details()}"))

    def _next(self) -> pb.ServerMessage:
        try:
            item = self._inbox.get(timeout=ROUND_TIMEOUT_S)
        except queue.Empty as exc:
            raise ServerGone(f"no answer from the server in {ROUND_TIMEOUT_S:g} s") from exc
        if isinstance(item, ServerGone):
            self._inbox.put(item)  # the stream is over: every later read fails the same way
            raise item
        message, self._arrived_s = item
        return message

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
        self._inbox = queue.Queue()
        responses = self.connection.stub.Session(iter(self._requests.get, None), timeout=None)
        threading.Thread(target=self._read, args=(responses, self._inbox), name="edge-reader",
                         daemon=True).start()  # fmt: skip
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

    def submit(self, pending, drafted, q_rows) -> None:
        self._counters = self.connection.relay.counters()
        self._drafted = list(drafted)
        self._sent_s = time.perf_counter()
        self._send(round=pb.Round(index=self._index, committed=pending, draft=drafted,
                                  **encode_q(q_rows, self.config.top_n)))  # fmt: skip

    def arrived(self) -> bool:
        return not self._inbox.empty()

    def wait(self) -> Verdict:
        waiting_from = time.perf_counter()
        v = self._expect("verdict")
        up0, down0 = self._counters
        up1, down1 = self.connection.relay.counters()
        self._index += 1
        return Verdict(
            accepted=v.accepted, token=v.token,
            target_argmax=[*self._drafted[: v.accepted], v.token],
            net_s=max(0.0, self._arrived_s - self._sent_s - v.server_s), verify_s=v.verify_s,
            late_s=max(0.0, waiting_from - self._arrived_s), server_queue_s=v.queue_s,
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


def round_sample(r: RoundRecord) -> EdgeRoundSample:
    """One round of the decoder as the e2e profile keeps it."""
    return EdgeRoundSample(
        drafted=len(r.drafted), accepted=r.accepted, emitted=len(r.emitted), draft_s=r.draft_s,
        wire_s=r.net_s, server_queue_s=r.server_queue_s or 0.0, verify_s=r.verify_s,
        server_s=r.server_s or 0.0, other_s=r.other_s, total_s=r.total_s,
        batch_size=r.batch_size or 0, bytes_up=r.bytes_up or 0, bytes_down=r.bytes_down or 0,
        carried=r.carried, predrafted=len(r.predrafted), predraft_s=r.predraft_s,
        reuse_hit=r.reuse_hit, wasted=r.wasted, late_s=r.late_s,
    )  # fmt: skip


def summarise(profile: E2EProfile, power: DraftPower | None = None) -> None:
    """Fill the profile's summary fields from its prompts' rounds (the drafting energy when the
    drafting power is known)."""
    rounds = [r for p in profile.prompts for r in p.rounds]
    if not rounds:
        return
    tokens = sum(p.tokens for p in profile.prompts)
    if profile.settings.overlap != "none":
        profile.overlap = overlap_summary(rounds)
    if power is not None:  # at the mean context of the rounds: prompt + half the output
        context = statistics.fmean(p.prompt_tokens + p.tokens / 2 for p in profile.prompts)
        profile.draft_energy = draft_energy(rounds, tokens, power, round(context))
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
    if options.overlap not in OVERLAPS:
        raise ConfigspecError(f"--overlap is one of {', '.join(OVERLAPS)}, not {options.overlap!r}")
    if options.overlap == "proactive" and options.tau is not None:
        raise ConfigspecError("--overlap proactive drafts a fixed K; drop --tau")


def run_edge(options: EdgeOptions) -> tuple[E2EProfile, Path]:
    from configspec.alignment.prompts import DEFAULT_PROMPTS, load_prompts, select_prompts
    from configspec.alignment.tokenizers import tokenizer_fingerprint
    from configspec.runners import open_runner
    from configspec.sources.cache import file_sha256

    _check_options(options)
    model, quant, path = _load_draft(options)
    prompts = select_prompts(load_prompts(options.prompts), options.n_prompts)
    power = find_draft_power(options.drafting_profile, options.results,
                             options.device or socket.gethostname(), model.name, quant)  # fmt: skip
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
                                str(options.prompts or DEFAULT_PROMPTS), power)  # fmt: skip
        finally:
            draft.close()
    finally:
        connection.close()


def _run_prompts(options, connection, hello, rtt, draft, model, quant, path, prompts,
                 fingerprint, sha, prompts_label, power):  # fmt: skip
    verifier = RemoteVerifier(connection, hello, model.family, fingerprint, options.k)
    decoder = SpeculativeDecoder(draft, verifier)
    config = DecodeConfig(
        k=options.k, temperature=options.temperature if options.mode == "sampled" else 0.0,
        tau=options.tau, seed=options.seed, max_new_tokens=options.max_new_tokens,
        stop_tokens=draft.stop_tokens(), top_n=options.top_n, overlap=options.overlap,
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
            prompts=prompts_label, seed=options.seed, network=network, overlap=options.overlap,
        ),
        measured_rtt_s=Summary.of(rtt),
    )  # fmt: skip
    out = options.out or default_output(profile.environment.device, "e2e")
    console.print(f"edge: {model.name} {quant} drafting for {hello.target} at {options.server} "
                  f"(measured round trip {1e3 * statistics.median(rtt):.2f} ms median"
                  + (f"; emulated: +{options.delay_ms:g} ms round trip" if options.delay_ms else "")
                  + (f", {options.bandwidth_mbit:g} Mbit/s" if options.bandwidth_mbit else "")
                  + ")" + ("; drafting proactively" if options.overlap == "proactive" else ""),
                  highlight=False)  # fmt: skip
    if power is None:
        profile.warnings.append(f"no drafting profile for {model.name} {quant} on "
                                f"{profile.environment.device}: the drafting energy is not "
                                "computed (pass --drafting-profile)")  # fmt: skip
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
                    rounds=[round_sample(r) for r in result.rounds],
                ))  # fmt: skip
                summarise(profile, power)
                save_profile(profile, out)
                advance()
    except (ServerGone, KeyboardInterrupt) as exc:
        profile.interrupted = True
        if current:
            profile.prompts.append(PromptRun(
                id=f"{prompt.id} (interrupted)", prompt_tokens=len(tokens),
                tokens=sum(r.emitted for r in map(round_sample, current)), ttft_s=0.0,
                decode_s=sum(r.total_s for r in current), text="",
                rounds=[round_sample(r) for r in current],
            ))  # fmt: skip
        summarise(profile, power)
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
    lines = [
        f"{s.draft} {s.quant} {policy} ({s.mode}) against {s.target}: goodput "
        f"{profile.goodput_tok_s:.2f} tok/s, {profile.tokens_per_round:.2f} tokens/round "
        f"({profile.drafted_per_round:.2f} drafted), inter-token latency p50/p90/p99 "
        f"{1e3 * itl.get('p50', 0):.0f}/{1e3 * itl.get('p90', 0):.0f}/{1e3 * itl.get('p99', 0):.0f} "
        f"ms, TTFT {1e3 * (profile.ttft_s.mean if profile.ttft_s else 0):.0f} ms",
        f"per round: draft {mean(lambda r: r.draft_s):.1f} ms, wire {mean(lambda r: r.wire_s):.1f} "
        f"ms, server queue {mean(lambda r: r.server_queue_s):.1f} ms, verify "
        f"{mean(lambda r: r.verify_s):.1f} ms; {profile.bytes_up_per_round:.0f} B up, "
        f"{profile.bytes_down_per_round:.0f} B down",
    ]  # fmt: skip
    if (o := profile.overlap) is not None:
        lines.append(f"proactive drafting: {o.reuse_hits} of {o.rounds_pre_drafting} rounds "
                     f"reused their pre-drafts ({o.reuse_rate:.0%}); {o.predrafted_tokens} tokens "
                     f"pre-drafted, {o.carried_tokens} carried into the next draft, "
                     f"{o.wasted_tokens} wasted ({1e3 * o.wasted_draft_s:.0f} ms of drafting); "
                     f"verdict late by {1e3 * o.late_s_per_round:.1f} ms per round")  # fmt: skip
    e = profile.draft_energy
    lines.append("drafting energy: not computed (no drafting profile for this draft on this "
                 "device; pass --drafting-profile)" if e is None else
                 f"drafting energy: {e.draft_j_per_token:.3f} J/token, of which wasted pre-drafts "
                 f"{e.wasted_draft_j_per_token:.3f} J/token ({e.power_w:.1f} W, {e.power_source}, "
                 f"from {e.profile})")  # fmt: skip
    console.print("\n".join(lines), highlight=False)
