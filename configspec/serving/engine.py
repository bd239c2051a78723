"""The verification server's engine: sessions, batching across sessions, chunked prefill.

One thread owns the target runner; sessions hand it work and get their answers through
callbacks. Each session has its own KV sequence in one shared cache (llama.cpp: n_seq_max
sequences, unified KV). An engine step:
  1. takes the rounds waiting, in arrival order, and waits for more within the batching window
     (SLED's shared-server batching): it dispatches when `max_batch` rounds wait, when every
     ready session has a round waiting (no other can come), or when the window since the first
     waiting round has passed;
  2. adds one prefill chunk of the oldest session still prefilling (vLLM's chunked prefill), so a
     long prompt delays other sessions' rounds by at most one chunk;
  3. runs ONE forward call over all of it (Runner.decode_sequences: each session's tokens in its
     own sequence at its own position), accepts per session (sampling.accept_round, the rule the
     in-process decoder uses), rolls each session's sequence back to its accepted prefix, and
     answers.
Sessions idle for longer than the idle timeout are closed and their sequence freed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from configspec.profiles.serving import ServerRoundSample as RoundRecord
from configspec.runners.base import Runner, SequenceTokens
from configspec.speculative.sampling import accept_round

MIN_CHUNK_TOKENS = 8
IDLE_CHECK_S = 0.5


class EngineError(Exception):
    """A refusal for one session or round; `code` is the protocol's Error.Code name."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass
class Opened:
    session_id: int
    prompt_tokens: int
    queue_s: float  # open to the first prefill chunk
    prefill_s: float  # first chunk to last chunk, other work interleaved
    prefill_chunks: int


@dataclass
class RoundResult:
    index: int
    accepted: int
    token: int
    queue_s: float  # arrival to the start of its batch
    verify_s: float  # the forward call it was verified in
    batch_size: int  # rounds in that call
    batch_tokens: int  # tokens in that call, prefill chunk included
    server_s: float  # arrival to answer


@dataclass
class Session:
    id: int
    sequence: int | None  # None until the engine thread hands it a cleared KV sequence
    prompt_tokens: int
    temperature: float
    rng: np.random.Generator
    on_opened: Callable[[Opened], None]
    on_error: Callable[[EngineError], None]  # the engine closed it (idle timeout, shutdown)
    prefill_todo: list[int]
    opened_s: float
    n_past: int = 0  # positions in its KV sequence
    ready: bool = False  # prefilled; rounds may come
    waiting: bool = False  # a round of it is queued
    closed: bool = False
    last_active_s: float = 0.0
    prefill_started_s: float | None = None
    prefill_chunks: int = 0
    rounds: int = 0
    tokens: int = 0


@dataclass
class RoundJob:
    session: Session
    index: int
    committed: list[int]
    drafted: list[int]
    q_rows: list[np.ndarray | None]
    arrived_s: float
    deliver: Callable[[RoundResult | EngineError], None]


@dataclass
class BatchRecord:
    """One forward call: what the serving profile keeps per call."""

    t_s: float  # since the engine started
    rounds: int
    tokens: int
    prefill_tokens: int
    verify_s: float
    context_tokens: float = 0.0  # mean cache position of the rounds verified (0: none)
    verified_tokens: int = 0  # accepted + 1 over its rounds
    # KV cells every open session held as the call ran: the sessions share one buffer, and the
    # call's attention reads all of it (docs/model.md prices a call at this context)
    held_tokens: int = 0


@dataclass
class EngineStats:
    batches: list[BatchRecord] = field(default_factory=list)
    rounds: list[RoundRecord] = field(default_factory=list)
    sessions_opened: int = 0
    sessions_closed: int = 0
    sessions_refused: int = 0
    sessions_idle_closed: int = 0
    prefill_tokens: int = 0


class VerifyEngine:
    def __init__(
        self, runner: Runner, max_sessions: int, n_ctx_per_session: int, max_batch: int,
        batch_window_s: float, prefill_chunk_tokens: int | None = None,
        idle_timeout_s: float = 120.0, clock: Callable[[], float] = time.perf_counter,
        on_batch: Callable[[BatchRecord, list[RoundRecord]], None] | None = None,
    ):  # fmt: skip
        self.runner = runner
        self.max_sessions = max_sessions
        self.n_ctx = n_ctx_per_session
        self.max_batch = max_batch
        self.window_s = batch_window_s
        self.idle_timeout_s = idle_timeout_s
        self.clock = clock
        self.on_batch = on_batch
        runner.open_sequences(max_sessions, n_ctx_per_session)
        self.chunk_tokens = prefill_chunk_tokens or self._auto_chunk_tokens()
        self.started_s = clock()
        self.stats = EngineStats()
        self._cond = threading.Condition()
        self._rounds: list[RoundJob] = []
        self._sessions: dict[int, Session] = {}
        self._free = list(range(max_sessions))
        self._to_free: list[int] = []
        self._next_id = 1
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="verify-engine", daemon=True)

    # ---- sizing ----------------------------------------------------------------------------
    def _auto_chunk_tokens(self) -> int:
        """Tokens the target prefills in about one batching window (at least MIN_CHUNK_TOKENS):
        measured here, on a warm cache, so a chunk delays other rounds by about one window."""
        probe = [1] * 64
        self.runner.decode_sequences([SequenceTokens(0, 0, probe[:8])])  # warm-up
        t0 = time.perf_counter()
        self.runner.decode_sequences([SequenceTokens(0, 8, probe)])
        rate = len(probe) / (time.perf_counter() - t0)
        self.runner.forget(0, 0)
        self.prefill_tokens_per_s = rate
        return max(MIN_CHUNK_TOKENS, int(rate * self.window_s))

    # ---- called from the server's threads ---------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def open(
        self, prompt: list[int], temperature: float, seed: int, need_tokens: int,
        on_opened: Callable[[Opened], None], on_error: Callable[[EngineError], None],
    ) -> Session:  # fmt: skip
        """A new session; raises EngineError(CONTEXT | CAPACITY | SHUTDOWN)."""
        if need_tokens > self.n_ctx:
            raise EngineError("CONTEXT", f"prompt + new tokens + K + 1 = {need_tokens} tokens "
                              f"do not fit the server's context of {self.n_ctx} per session")  # fmt: skip
        with self._cond:
            if self._stopping:
                raise EngineError("SHUTDOWN", "the server is stopping")
            if len(self._sessions) >= self.max_sessions:
                self.stats.sessions_refused += 1
                raise EngineError("CAPACITY", f"the server is at its limit of {self.max_sessions} "
                                  "sessions; try again later, or start it with a larger "
                                  "--max-sessions")  # fmt: skip
            now = self.clock()
            session = Session(
                # a just-closed session's sequence may still be being cleared: then the engine
                # thread hands it over (_run) before this session's first forward call
                id=self._next_id, sequence=self._free.pop(0) if self._free else None,
                prompt_tokens=len(prompt),
                temperature=temperature, rng=np.random.default_rng([seed, 1]),
                on_opened=on_opened, on_error=on_error, prefill_todo=list(prompt[:-1]),
                opened_s=now, last_active_s=now,
            )  # fmt: skip
            self._next_id += 1
            self._sessions[session.id] = session
            self.stats.sessions_opened += 1
            if not session.prefill_todo and session.sequence is not None:
                self._mark_ready(session, now)
            self._cond.notify_all()
        return session

    def submit(self, job: RoundJob) -> None:
        with self._cond:
            s = job.session
            if s.closed or self._stopping:
                job.deliver(EngineError("SHUTDOWN" if self._stopping else "BAD_MESSAGE",
                                        "the session is closed"))  # fmt: skip
                return
            if not s.ready or s.waiting:
                job.deliver(EngineError("BAD_MESSAGE", "a round before the session was opened "
                                        "or before the previous verdict"))  # fmt: skip
                return
            s.waiting = True
            s.last_active_s = job.arrived_s
            self._rounds.append(job)
            self._cond.notify_all()

    def close(self, session: Session) -> None:
        with self._cond:
            self._close(session)
            self._cond.notify_all()

    def stop(self, timeout_s: float = 10.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    @property
    def open_sessions(self) -> int:
        with self._cond:
            return len(self._sessions)

    # ---- the engine thread -------------------------------------------------------------------
    def _close(self, session: Session) -> None:
        if session.closed:
            return
        session.closed = True
        self._sessions.pop(session.id, None)
        self._rounds = [j for j in self._rounds if j.session is not session]
        if session.sequence is not None:
            self._to_free.append(session.sequence)
        self.stats.sessions_closed += 1

    def _mark_ready(self, session: Session, now: float) -> None:
        session.ready = True
        started = session.prefill_started_s if session.prefill_started_s is not None else now
        session.on_opened(Opened(session.id, session.prompt_tokens, started - session.opened_s,
                                 now - started, session.prefill_chunks))  # fmt: skip

    def _others_may_come(self) -> bool:
        """Is a ready session without a queued round left (one that may still send)?"""
        return any(s.ready and not s.waiting for s in self._sessions.values())

    def _expire_idle(self, now: float) -> None:
        for s in list(self._sessions.values()):
            if not s.waiting and now - s.last_active_s > self.idle_timeout_s:
                self._close(s)
                self.stats.sessions_idle_closed += 1
                s.on_error(EngineError("IDLE", f"session closed after {self.idle_timeout_s:g} s "
                                       "without a round"))  # fmt: skip

    def _hand_over(self, sequence: int) -> None:
        """A cleared sequence goes to the oldest session waiting for one, else back to the pool."""
        waiting = [s for s in self._sessions.values() if s.sequence is None]
        if not waiting:
            self._free.append(sequence)
            return
        s = min(waiting, key=lambda x: x.id)
        s.sequence = sequence
        if not s.prefill_todo:
            self._mark_ready(s, self.clock())
        self._cond.notify_all()

    def _next_chunk(self) -> tuple[Session, list[int]] | None:
        prefilling = [
            s for s in self._sessions.values() if s.prefill_todo and s.sequence is not None
        ]
        if not prefilling:
            return None
        s = min(prefilling, key=lambda x: x.opened_s)
        chunk, s.prefill_todo = (
            s.prefill_todo[: self.chunk_tokens],
            s.prefill_todo[self.chunk_tokens :],
        )
        return s, chunk

    def _take_work(self) -> tuple[list[RoundJob], tuple[Session, list[int]] | None, list[int]]:
        with self._cond:
            while not self._stopping:
                self._expire_idle(self.clock())
                to_free, self._to_free = self._to_free, []
                if self._rounds:
                    deadline = self._rounds[0].arrived_s + self.window_s
                    while (
                        len(self._rounds) < self.max_batch
                        and self._others_may_come()
                        and not self._stopping
                        and (left := deadline - self.clock()) > 0
                    ):
                        self._cond.wait(left)  # fmt: skip
                    batch = self._rounds[: self.max_batch]
                    del self._rounds[: len(batch)]
                    return batch, self._next_chunk(), to_free
                chunk = self._next_chunk()
                if chunk is not None or to_free:
                    return [], chunk, to_free
                self._cond.wait(IDLE_CHECK_S)
            return [], None, self._to_free

    def _run(self) -> None:
        while True:
            batch, chunk, to_free = self._take_work()
            for sequence in to_free:
                self.runner.forget(sequence, 0)
                with self._cond:
                    self._hand_over(sequence)
            if self._stopping:
                break
            if batch or chunk:
                self._step(batch, chunk)
        with self._cond:
            for s in list(self._sessions.values()):
                self._close(s)
                s.on_error(EngineError("SHUTDOWN", "the server is stopping"))
            for job in self._rounds:
                job.deliver(EngineError("SHUTDOWN", "the server is stopping"))
            self._rounds.clear()

    def _step(self, batch: list[RoundJob], chunk: tuple[Session, list[int]] | None) -> None:
        jobs, items = [], []
        for job in batch:
            s = job.session
            tokens = job.committed + job.drafted
            if s.n_past + len(tokens) > self.n_ctx:
                s.waiting = False
                job.deliver(EngineError("CONTEXT", f"the round needs {s.n_past + len(tokens)} "
                                        f"positions, the context holds {self.n_ctx}"))  # fmt: skip
                continue
            jobs.append(job)
            items.append(SequenceTokens(s.sequence, s.n_past, tokens, len(job.committed) - 1))
        if chunk is not None:
            s, tokens = chunk
            if s.prefill_started_s is None:
                s.prefill_started_s = self.clock()
            items.append(SequenceTokens(s.sequence, s.n_past, tokens, None))
        if not items:
            return
        with self._cond:
            held = sum(s.n_past for s in self._sessions.values())
        t0 = self.clock()
        try:
            rows = self.runner.decode_sequences(items)
        except Exception as exc:  # noqa: BLE001 - any backend failure fails this batch only
            for job in jobs:
                job.session.waiting = False
                job.deliver(EngineError("INTERNAL", f"verification failed: {exc}"))
            return
        t1 = self.clock()
        verify_s = t1 - t0
        n_tokens = sum(len(i.tokens) for i in items)
        contexts = [i.pos for i in items[: len(jobs)]]
        record = BatchRecord(t0 - self.started_s, len(jobs), n_tokens,
                             len(chunk[1]) if chunk else 0, verify_s,
                             sum(contexts) / len(contexts) if contexts else 0.0,
                             held_tokens=held)  # fmt: skip
        round_records = []
        with self._cond:
            for job, job_rows in zip(jobs, rows, strict=False):
                s = job.session
                accepted, token = accept_round(job.drafted, job.q_rows, job_rows, s.temperature,
                                               s.rng)  # fmt: skip
                s.n_past += len(job.committed) + accepted
                self.runner.forget(s.sequence, s.n_past)
                s.waiting = False
                s.rounds += 1
                s.tokens += accepted + 1
                now = self.clock()
                s.last_active_s = now
                result = RoundResult(job.index, accepted, token, t0 - job.arrived_s, verify_s,
                                     len(jobs), n_tokens, now - job.arrived_s)  # fmt: skip
                round_records.append(RoundRecord(
                    t_s=t0 - self.started_s, session=s.id, drafted=len(job.drafted),
                    accepted=accepted, queue_s=result.queue_s, verify_s=verify_s,
                    server_s=result.server_s, batch_size=len(jobs),
                ))  # fmt: skip
                job.deliver(result)
            if chunk is not None:
                s, tokens = chunk
                s.n_past += len(tokens)
                s.prefill_chunks += 1
                s.last_active_s = t1
                self.stats.prefill_tokens += len(tokens)
                if not s.prefill_todo and not s.closed:
                    self._mark_ready(s, t1)
            record.verified_tokens = sum(r.accepted + 1 for r in round_records)
            self.stats.batches.append(record)
            self.stats.rounds += round_records
            self._cond.notify_all()
        if self.on_batch:
            self.on_batch(record, round_records)
