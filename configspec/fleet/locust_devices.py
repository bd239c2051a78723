"""Emulated devices as Locust users. Imported only by the load generator process (loadgen.py),
after gevent has patched it: importing locust patches the importing process."""

from __future__ import annotations

import itertools
import json
import resource
import sys
import time

import gevent
import grpc
import numpy as np
from gevent.queue import Queue
from locust import User, events, task
from locust.env import Environment

from configspec.fleet.device import DeviceIdentity, run_session
from configspec.fleet.plan import GroupPlan, Plan
from configspec.fleet.workload import plan_rounds
from configspec.profiles.fleet import FleetRound, FleetSession
from configspec.serving.proto import verify_pb2_grpc as pb_grpc
from configspec.serving.protocol import GRPC_OPTIONS

# Every device its own TCP connection, so each has its own emulated link in the relay (gRPC
# otherwise shares one connection between channels to the same address).
OWN_CONNECTION = ("grpc.use_local_subchannel_pool", 1)
PROGRESS_EVERY_S = 1.0
REFUSED_BACKOFF_S = 1.0  # a device the server refused (CAPACITY) tries again after this


class Run:
    """State shared by every device of the run: the clock origin and the records file."""

    def __init__(self, plan: Plan, records_path: str):
        self.plan = plan
        self.t0 = time.perf_counter()
        self.records = open(records_path, "w")  # noqa: SIM115 - closed by finish()
        self.rounds = 0
        self.sessions = 0

    def write(self, sample: FleetRound | FleetSession) -> None:
        kind = "round" if isinstance(sample, FleetRound) else "session"
        self.records.write(json.dumps({"kind": kind, **sample.model_dump()}) + "\n")

    def finish(self) -> None:
        self.records.close()


class Device(User):
    abstract = True
    shared: Run  # (not `run`: Locust's User.run is the user's main loop)
    plan: GroupPlan
    group_index: int
    arrivals: Queue | None = None

    def wait_time(self) -> float:
        think = self.plan.think_s
        return float(self.rng.exponential(think)) if think > 0 and self.arrivals is None else 0.0

    def on_start(self) -> None:
        plan = self.plan
        self.index = next(self.counter)
        self.rng = np.random.default_rng([self.shared.plan.seed, self.group_index, self.index])
        self.channel = grpc.insecure_channel(plan.address, options=[*GRPC_OPTIONS, OWN_CONNECTION])
        self.stub = pb_grpc.VerifierStub(self.channel)
        self.cursor = int(self.rng.integers(len(self.works)))
        self.me = DeviceIdentity(
            plan.name, self.index, plan.family, plan.fingerprint, plan.policy.k_max
        )
        self.sessions = 0

    def on_stop(self) -> None:
        self.channel.close()

    @task
    def session(self) -> None:
        waited_s = 0.0
        if self.arrivals is not None:  # open loop: the next arrival that finds this device free
            arrived = self.arrivals.get()
            waited_s = time.perf_counter() - arrived
        i = self.cursor % len(self.works)
        self.cursor += 1
        self.sessions += 1
        sample = run_session(
            self.stub, self.me, self.sessions, self.works[i], self.rounds[i], self.steps,
            self.rng, self.shared.t0, self._on_round, self.shared.plan.round_timeout_s, waited_s,
            on_end=self._report_session,
        )  # fmt: skip
        if sample.status == "refused":
            time.sleep(REFUSED_BACKOFF_S)

    def _on_round(self, sample: FleetRound) -> None:
        self.shared.rounds += 1
        self.shared.write(sample)
        self.environment.events.request.fire(
            request_type="round", name=self.plan.name, response_time=1e3 * sample.round_s,
            response_length=sample.emitted, context={},
            exception=None if sample.as_predicted else RuntimeError("not as the trace predicts"),
        )  # fmt: skip

    def _report_session(self, sample: FleetSession) -> None:
        self.shared.sessions += 1
        self.shared.write(sample)
        self.environment.events.request.fire(
            request_type="session", name=self.plan.name, context={},
            response_time=1e3 * (sample.end_s - sample.open_s), response_length=sample.tokens,
            exception=None if sample.status == "done" else RuntimeError(sample.status),
        )  # fmt: skip


def device_classes(run: Run) -> list[type[Device]]:
    classes = []
    for gi, g in enumerate(run.plan.groups):
        works = [p.work() for p in g.prompts]
        classes.append(type(f"Group{gi}", (Device,), {
            "fixed_count": g.count, "shared": run, "plan": g, "group_index": gi,
            "works": works, "steps": g.steps(), "counter": itertools.count(),
            "rounds": [plan_rounds(w, g.policy, run.plan.n_vocab) for w in works],
            "arrivals": Queue() if g.arrival == "open" else None,
        }))  # fmt: skip
    return classes


def _arrivals(cls: type[Device], rng: np.random.Generator) -> None:
    """Poisson session arrivals for an open-loop group (exponential gaps)."""
    while True:
        gevent.sleep(float(rng.exponential(1.0 / cls.plan.sessions_per_s)))
        cls.arrivals.put(time.perf_counter())


def _emit(**fields) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def _locust_stats(env: Environment, plan: Plan) -> dict:
    out = {}
    for g in plan.groups:
        entry = env.stats.get(g.name, "round")
        out[g.name] = {
            "rounds": entry.num_requests, "failures": entry.num_failures,
            "mean_ms": entry.avg_response_time,
            **{f"p{q}_ms": entry.get_response_time_percentile(q / 100) for q in (50, 90, 99)},
        }  # fmt: skip
    return out


def run_plan(plan_path: str, records_path: str) -> None:
    with open(plan_path) as handle:
        plan = Plan.model_validate_json(handle.read())
    # grpc under gevent waits for each channel's completion queue in a thread of gevent's hub
    # pool (up to 2 s per wait); a pool smaller than the channels makes every device wait its
    # turn. One thread per device's channel, plus the pool's own default.
    hub_pool = gevent.get_hub().threadpool
    hub_pool.maxsize = max(hub_pool.maxsize, sum(g.count for g in plan.groups) + 10)
    run = Run(plan, records_path)
    classes = device_classes(run)
    env = Environment(user_classes=classes, events=events)
    runner = env.create_local_runner()
    total = sum(g.count for g in plan.groups)
    rng = np.random.default_rng([plan.seed, 1 << 20])
    feeders = [gevent.spawn(_arrivals, c, rng) for c in classes if c.arrivals is not None]
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    runner.start(total, spawn_rate=max(1.0, total / max(plan.ramp_s, 1e-3)))
    end = run.t0 + plan.ramp_s + plan.duration_s
    while (now := time.perf_counter()) < end:
        gevent.sleep(min(PROGRESS_EVERY_S, end - now))
        _emit(t=time.perf_counter() - run.t0, rounds=run.rounds, sessions=run.sessions)
    wall = time.perf_counter() - run.t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    gevent.killall(feeders)
    unserved = {c.plan.name: c.arrivals.qsize() for c in classes if c.arrivals is not None}
    runner.quit()
    run.finish()
    cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    errors = [f"{e['count']} x {e['msg']}" for e in runner.exceptions.values()]
    _emit(done=True, cpu_s=cpu, wall_s=wall, unserved=unserved, errors=errors,
          locust=_locust_stats(env, plan))  # fmt: skip
