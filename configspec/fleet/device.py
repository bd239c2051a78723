"""One emulated device's session over the real protocol (the Session stream of verify.proto).

It opens a session with the prompt's ids, then per planned round: waits its drafting time (the
emulated draft compute), sends the committed token and the drafted ids in a `Round`, reads the
`Verdict`, checks it against the trace's prediction and goes on from the server's token, then
closes. A verdict that differs from the trace where the server kept no more than the trace
predicts (a near-tie the batched call broke otherwise) is recorded as not as predicted, and the
device goes on with the trace's text: the trace's tokens the server did not keep lead the next
round as committed tokens, so the server's cache holds the traced text again and the session
keeps its planned length (docs/fleet.md). Two such rounds in a row, or a server that kept more
than the trace allows, end the session as a mismatch: traces that do not hold.

The server cannot tell it from `configspec edge`: same messages, same order, its own tokenizer
fingerprint. Plain blocking code (time.sleep, queue.Queue, a Timer for the per-round deadline):
under gevent's monkey patching (the load generator) the same code is cooperative.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import numpy as np

from configspec.fleet.workload import PlannedRound, PromptWork, StepSamples
from configspec.profiles.fleet import FleetRound, FleetSession
from configspec.serving.proto import verify_pb2 as pb
from configspec.serving.protocol import PROTOCOL_VERSION

# Errors that end a session without blaming the emulation (the server's own decisions).
REFUSED = ("CAPACITY",)
SERVER_GONE = ("SHUTDOWN", "IDLE", "INTERNAL")


class SessionEnded(Exception):
    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class DeviceIdentity:
    group: str
    device: int
    family: str
    fingerprint: str
    k_max: int


class Stream:
    """The client side of one Session stream, with a deadline on every answer."""

    def __init__(self, stub, timeout_s: float):
        self._requests: queue.Queue = queue.Queue()
        self._responses = stub.Session(iter(self._requests.get, None))
        self.timeout_s = timeout_s

    def send(self, **body) -> None:
        self._requests.put(pb.EdgeMessage(**body))

    def expect(self, which: str):
        timer = threading.Timer(self.timeout_s, self._responses.cancel)
        timer.start()
        try:
            reply = next(self._responses)
        except StopIteration as exc:
            raise SessionEnded("error", "the server ended the stream without an answer") from exc
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.CANCELLED and not timer.is_alive():
                raise SessionEnded("timeout", f"no {which} within {self.timeout_s:g} s") from exc
            raise SessionEnded("error", f"{exc.code().name}: {exc.details()}") from exc
        finally:
            timer.cancel()
        body = reply.WhichOneof("body")
        if body == "error":
            code = pb.Error.Code.Name(reply.error.code)
            status = "refused" if code in REFUSED else "error"
            raise SessionEnded(status, f"{code}: {reply.error.message}")
        if body != which:
            raise SessionEnded("error", f"expected {which}, the server sent {body}")
        return getattr(reply, which)

    def close(self) -> None:
        self._requests.put(None)
        self._responses.cancel()


def run_session(
    stub, me: DeviceIdentity, session: int, work: PromptWork, rounds: list[PlannedRound],
    steps: StepSamples, rng: np.random.Generator, t0: float,
    on_round: Callable[[FleetRound], None], timeout_s: float, waited_s: float = 0.0,
    on_end: Callable[[FleetSession], None] | None = None,
) -> FleetSession:  # fmt: skip
    """Run one session to its end (or the first refusal, timeout or traces that do not hold).
    `on_end` gets the record however it ends: a session the load generator stops at the end of
    the run (status "cut") is recorded too, so every measured round has its session's prompt."""
    clock = time.perf_counter
    stream = Stream(stub, timeout_s)
    record = FleetSession(group=me.group, device=me.device, session=session, prompt=work.id,
                          open_s=clock() - t0, opened_s=None, end_s=0.0, status="cut",
                          message="", rounds=0, tokens=0, waited_s=waited_s)  # fmt: skip
    try:
        stream.send(open=pb.Open(
            protocol_version=PROTOCOL_VERSION, family=me.family,
            tokenizer_fingerprint=me.fingerprint, prompt=work.prompt_ids, mode=pb.GREEDY,
            max_new_tokens=len(work), k_max=me.k_max,
        ))  # fmt: skip
        stream.expect("opened")
        record.opened_s = clock() - t0
        committed, differed = [work.prompt_ids[-1]], False
        for index, planned in enumerate(rounds):
            start = clock()
            target_s = steps.draw_s(planned.calls, len(work.prompt_ids) + planned.start, rng)
            time.sleep(target_s)
            drafted_at = clock()
            stream.send(round=pb.Round(index=index, committed=committed, draft=planned.drafted))
            verdict = stream.expect("verdict")
            answer = clock()
            ok = verdict.accepted == planned.accepted and verdict.token == planned.token
            on_round(FleetRound(
                group=me.group, device=me.device, session=session, index=index,
                start_s=start - t0, answer_s=answer - t0, draft_s=drafted_at - start,
                draft_target_s=target_s, drafted=len(planned.drafted), calls=planned.calls,
                accepted=verdict.accepted, predicted=planned.accepted,
                emitted=verdict.accepted + 1, as_predicted=ok, queue_s=verdict.queue_s,
                verify_s=verdict.verify_s, server_s=verdict.server_s,
                batch_size=verdict.batch_size, batch_tokens=verdict.batch_tokens,
            ))  # fmt: skip
            record.rounds += 1
            record.tokens += verdict.accepted + 1
            if ok:
                committed, differed = [verdict.token], False
                continue
            if differed or verdict.accepted > planned.accepted:
                raise SessionEnded("mismatch", f"round {index}: the server accepted "
                                   f"{verdict.accepted} and sent {verdict.token}, the trace says "
                                   f"{planned.accepted} and {planned.token}")  # fmt: skip
            committed = [*planned.drafted[verdict.accepted : planned.accepted], planned.token]
            differed = True
        stream.send(close=pb.Close())
        stream.expect("closed")
        record.status = "done"
    except SessionEnded as exc:
        record.status, record.message = exc.status, str(exc)
    finally:
        record.end_s = clock() - t0
        stream.close()
        if on_end is not None:
            on_end(record)
    return record
