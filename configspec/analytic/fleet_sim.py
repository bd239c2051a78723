"""A discrete-event simulation of a fleet and its server, driven by the measured distributions.

What MVA cannot say (open-loop arrivals, percentiles, the batching window exactly), a simulation
of the same system can. Devices replay their session scripts (the rounds the traces walk), each
round's drafting time drawn from the drafting profile's raw step times; the network adds the
group's one-way delays; the server follows configspec serve's engine (configspec/serving/
engine.py): a call takes the waiting rounds in arrival order, up to `max_batch`, dispatching at
once when the batch is full, when every ready session has a round waiting, or when the window
since the first waiting round has passed; one prefill chunk of the oldest prefilling session
rides along (or goes alone); the call lasts t_v of its tokens (batching.BatchCost) plus the
per-round work outside the forward call, at the context the KV buffer holds (fleet_model:
with a shared buffer, the cells of every open session). Sessions beyond `max_sessions` are
refused and retried after a second. The output is the same records the emulation writes
(FleetRound, FleetSession), summarised by the same code. Seeded, so a run is reproducible.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from configspec.analytic.batching import BatchCost
from configspec.analytic.fleet_model import ServerTerms
from configspec.profiles.fleet import FleetRound, FleetSession

REFUSED_BACKOFF_S = 1.0  # as the load generator


@dataclass(frozen=True)
class ScriptRound:
    calls: int  # draft forward calls
    drafted: int
    emitted: int  # accepted + 1
    start: int  # continuation position


@dataclass(frozen=True)
class SessionScript:
    prompt: str
    prompt_tokens: int
    rounds: tuple[ScriptRound, ...]


@dataclass(frozen=True)
class SimGroup:
    name: str
    count: int
    scripts: tuple[SessionScript, ...]  # sessions cycle through them
    draw_draft_s: Callable[[int, float, np.random.Generator], float]  # (calls, context, rng)
    up_s: float  # one-way device -> server, per message (delay + serialisation + transport)
    down_s: float
    closed: bool = True
    think_s: float = 0.0
    sessions_per_s: float | None = None


@dataclass
class _Device:
    group: int
    index: int
    rng: np.random.Generator
    cursor: int
    sessions: int = 0
    script: SessionScript | None = None
    round: int = 0
    start_s: float = 0.0  # the current round's drafting start
    draft_s: float = 0.0
    session_record: FleetSession | None = None


@dataclass
class _ServerSession:
    device: _Device
    opened_s: float
    todo: int  # prefill tokens left
    context: int
    waiting: bool = False


@dataclass
class _Job:
    session: _ServerSession
    tokens: int
    arrived_s: float


@dataclass
class Simulation:
    groups: list[SimGroup]
    cost: BatchCost
    server: ServerTerms
    seed: int = 0
    rounds: list[FleetRound] = field(default_factory=list)
    sessions: list[FleetSession] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._events: list = []
        self._seq = itertools.count()
        self._now = 0.0
        self._busy = False
        self._jobs: list[_Job] = []
        self._open: list[_ServerSession] = []  # sessions on the server, by open time
        self._window_at: float | None = None
        self._queues: dict[int, deque] = {}
        self._idle: dict[int, list[_Device]] = {}

    # ---- the event loop -------------------------------------------------------------------
    def _at(self, t: float, action: Callable, *args) -> None:
        heapq.heappush(self._events, (t, next(self._seq), action, args))

    def run(self, until_s: float, ramp_s: float = 0.0) -> Simulation:
        master = np.random.default_rng([self.seed, 7])
        for gi, g in enumerate(self.groups):
            self._queues[gi], self._idle[gi] = deque(), []
            for i in range(g.count):
                rng = np.random.default_rng([self.seed, gi, i])
                device = _Device(gi, i, rng, int(rng.integers(len(g.scripts))))
                start = ramp_s * i / g.count
                self._at(start, self._next_session if g.closed else self._become_idle, device)
            if not g.closed:
                self._at(float(master.exponential(1 / g.sessions_per_s)), self._arrival, gi, master)
        while self._events and self._events[0][0] <= until_s:
            self._now, _, action, args = heapq.heappop(self._events)
            action(*args)
        return self

    # ---- devices ----------------------------------------------------------------------------
    def _arrival(self, gi: int, rng: np.random.Generator) -> None:
        self._queues[gi].append(self._now)
        if self._idle[gi]:
            self._next_session(self._idle[gi].pop())
        self._at(self._now + float(rng.exponential(1 / self.groups[gi].sessions_per_s)),
                 self._arrival, gi, rng)  # fmt: skip

    def _become_idle(self, device: _Device) -> None:
        if self._queues[device.group]:
            self._next_session(device)
        else:
            self._idle[device.group].append(device)

    def _next_session(self, device: _Device) -> None:
        g = self.groups[device.group]
        waited = 0.0
        if not g.closed:
            waited = self._now - self._queues[device.group].popleft()
        script = g.scripts[device.cursor % len(g.scripts)]
        device.cursor += 1
        device.sessions += 1
        device.script, device.round = script, 0
        device.session_record = FleetSession(
            group=g.name, device=device.index, session=device.sessions, prompt=script.prompt,
            open_s=self._now, opened_s=None, end_s=0.0, status="cut", message="", rounds=0,
            tokens=0, waited_s=waited,
        )  # fmt: skip
        self._at(self._now + g.up_s, self._server_open, device)

    def _opened(self, device: _Device) -> None:
        device.session_record.opened_s = self._now
        self._draft(device)

    def _draft(self, device: _Device) -> None:
        g = self.groups[device.group]
        r = device.script.rounds[device.round]
        context = device.script.prompt_tokens + r.start
        device.start_s = self._now
        device.draft_s = g.draw_draft_s(r.calls, context, device.rng)
        self._at(self._now + device.draft_s + g.up_s, self._server_round, device)

    def _verdict(self, device: _Device, queue_s: float, verify_s: float, server_s: float,
                 batch: int, tokens: int) -> None:  # fmt: skip
        g = self.groups[device.group]
        r = device.script.rounds[device.round]
        self.rounds.append(FleetRound(
            group=g.name, device=device.index, session=device.sessions, index=device.round,
            start_s=device.start_s, answer_s=self._now, draft_s=device.draft_s,
            draft_target_s=device.draft_s, drafted=r.drafted, calls=r.calls,
            accepted=r.emitted - 1, predicted=r.emitted - 1, emitted=r.emitted,
            as_predicted=True, queue_s=queue_s, verify_s=verify_s, server_s=server_s,
            batch_size=batch, batch_tokens=tokens,
        ))  # fmt: skip
        record = device.session_record
        record.rounds += 1
        record.tokens += r.emitted
        device.round += 1
        if device.round < len(device.script.rounds):
            self._draft(device)
            return
        record.status, record.end_s = "done", self._now
        self.sessions.append(record)
        self._at(self._now + g.up_s, self._server_close, device)
        self._after_session(device, g.think_s)

    def _after_session(self, device: _Device, pause_s: float) -> None:
        g = self.groups[device.group]
        if g.closed:
            pause = float(device.rng.exponential(pause_s)) if pause_s > 0 else 0.0
            self._at(self._now + pause, self._next_session, device)
        else:
            self._become_idle(device)

    # ---- the server (configspec/serving/engine.py) ------------------------------------------
    def _session_of(self, device: _Device) -> _ServerSession:
        return next(s for s in self._open if s.device is device)

    def _server_open(self, device: _Device) -> None:
        if len(self._open) >= self.server.max_sessions:
            record = device.session_record
            record.status, record.end_s = "refused", self._now + self.groups[device.group].down_s
            self.sessions.append(record)
            self._after_session(device, max(REFUSED_BACKOFF_S, self.groups[device.group].think_s))
            return
        prompt = device.script.prompt_tokens
        self._open.append(_ServerSession(device, self._now, prompt - 1, prompt - 1))
        if prompt - 1 == 0:
            self._at(self._now + self.groups[device.group].down_s, self._opened, device)
        self._dispatch()

    def _server_round(self, device: _Device) -> None:
        session = self._session_of(device)
        session.waiting = True
        r = device.script.rounds[device.round]
        self._jobs.append(_Job(session, r.drafted + 1, self._now))
        self._dispatch()

    def _server_close(self, device: _Device) -> None:
        self._open = [s for s in self._open if s.device is not device]
        self._dispatch()

    def _others_may_come(self) -> bool:
        return any(s.todo == 0 and not s.waiting for s in self._open)

    def _dispatch(self) -> None:
        if self._busy:
            return
        jobs = self._jobs
        if jobs:
            deadline = jobs[0].arrived_s + self.server.window_s
            if (
                len(jobs) < self.server.max_batch
                and self._others_may_come()
                and self._now < deadline
            ):
                if self._window_at != deadline:
                    self._window_at = deadline
                    self._at(deadline, self._dispatch)
                return
        prefilling = [s for s in self._open if s.todo > 0]
        if not jobs and not prefilling:
            return
        batch, self._jobs = jobs[: self.server.max_batch], jobs[self.server.max_batch :]
        chunk_session = prefilling[0] if prefilling else None
        chunk = min(chunk_session.todo, self.server.prefill_chunk_tokens) if chunk_session else 0
        verify_s = self.cost.call_s([j.tokens for j in batch], chunk,
                                    self._call_context(batch, chunk_session))  # fmt: skip
        busy_s = verify_s + self.server.round_overhead_s * len(batch)
        self._busy = True
        self._at(self._now + busy_s, self._call_end, batch, chunk_session, chunk, verify_s,
                 self._now)  # fmt: skip

    def _call_context(self, batch: list[_Job], chunk_session: _ServerSession | None) -> float:
        """Shared KV: the cells every open session holds (its prefilled part); otherwise the
        mean context of the call's own sessions."""
        if self.server.shared_kv:
            return float(sum(s.context - s.todo for s in self._open))
        contexts = [j.session.context for j in batch] or [chunk_session.context]
        return float(np.mean(contexts))

    def _call_end(self, batch: list[_Job], chunk_session, chunk: int, verify_s: float,
                  started_s: float) -> None:  # fmt: skip
        self._busy = False
        tokens = sum(j.tokens for j in batch) + chunk
        for job in batch:
            s = job.session
            s.waiting = False
            r = s.device.script.rounds[s.device.round]
            s.context += r.emitted
            self._at(self._now + self.groups[s.device.group].down_s, self._verdict, s.device,
                     started_s - job.arrived_s, verify_s, self._now - job.arrived_s, len(batch),
                     tokens)  # fmt: skip
        if chunk_session is not None:
            chunk_session.todo -= chunk
            if chunk_session.todo == 0:
                device = chunk_session.device
                self._at(self._now + self.groups[device.group].down_s, self._opened, device)
        self._dispatch()
