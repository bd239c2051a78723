"""`configspec fleet`: emulated edge devices against a real `configspec serve`; fleet profile.

This process checks the inputs and the server, starts one relay per group (the emulated network:
each device's own connection gets the group's delay and link rate, and the relay counts the
bytes), writes the plan and starts the load generator (loadgen.py: Locust users under gevent, in
its own process because gevent patches the process it runs in). It shows progress, then turns
the load generator's records into the fleet profile, written atomically.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.table import Table

from configspec.errors import ConfigspecError
from configspec.fleet.inputs import FleetInputs, Tokenizers, load_fleet_inputs, load_tokenizers
from configspec.fleet.measure import group_result, in_span, percentiles, server_power, server_result
from configspec.fleet.plan import make_plan
from configspec.fleet.spec import load_fleet, require_configured
from configspec.output import stdout
from configspec.profiles.environment import Environment
from configspec.profiles.fleet import (
    EmulatorLoad,
    FleetProfile,
    FleetRound,
    FleetSession,
    FleetSettings,
)  # fmt: skip
from configspec.profiles.io import default_output, save_profile
from configspec.progress import console, exit_interrupted, step_progress
from configspec.serving.edge import Connection, parse_address
from configspec.serving.proto import verify_pb2 as pb
from configspec.serving.relay import LinkShape, Relay

START_GRACE_S = 60.0  # the load generator's own start (imports, plan) before its clock runs
STOP_GRACE_S = 30.0


@dataclass(frozen=True)
class FleetOptions:
    fleet: Path
    models: Path = Path("models.yaml")
    server: str = "127.0.0.1:50051"
    duration_s: float = 60.0
    warmup_s: float = 10.0
    seed: int = 0
    round_timeout_s: float = 300.0
    device: str | None = None
    out: Path | None = None


def locust_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("locust")
    except PackageNotFoundError as exc:
        raise ConfigspecError(
            "configspec fleet runs its devices on Locust: pip install "
            "'configspec[fleet]' (or pip install locust)"
        ) from exc


def probe_server(server: str) -> pb.HelloReply:
    """The server's Hello, or one line saying nobody answers there."""
    parse_address(server)
    connection = Connection(server, LinkShape())
    try:
        return connection.hello()
    finally:
        connection.close()


def check_server(hello: pb.HelloReply, inputs: FleetInputs, tokenizers: Tokenizers,
                 server: str) -> list[str]:  # fmt: skip
    """Refuse a fleet the server cannot serve as the traces predict; warnings otherwise."""
    for g in inputs.groups:
        name = g.group.name
        if g.draft.family != hello.family:
            raise ConfigspecError(f"group {name}: draft {g.draft.name} is of family "
                                  f"{g.draft.family!r}, the server at {server} serves "
                                  f"{hello.target} of family {hello.family!r}")  # fmt: skip
        if tokenizers.fingerprints[g.draft.name] != hello.tokenizer_fingerprint:
            raise ConfigspecError(f"group {name}: draft {g.draft.name}'s tokenizer differs from "
                                  f"the server's target {hello.target}'s (fingerprints "
                                  f"{tokenizers.fingerprints[g.draft.name]} and "
                                  f"{hello.tokenizer_fingerprint})")  # fmt: skip
        if g.traces_target_sha256 != hello.target_file_sha256:
            raise ConfigspecError(f"group {name}: the server at {server} serves {hello.target} "
                                  f"from another file (sha256 {hello.target_file_sha256[:12]}) "
                                  f"than the traces' target ({g.traces_target_sha256[:12]}); "
                                  "serve the target the alignment profile was made with")  # fmt: skip
        need = max(len(p.prompt_ids) + len(p) for p in g.prompts) + g.group.policy.k_max + 1
        if need > hello.n_ctx_per_session:
            raise ConfigspecError(f"group {name}: a session needs {need} positions, the server "
                                  f"holds {hello.n_ctx_per_session} per session (start it "
                                  f"with --ctx {need} or more)")  # fmt: skip
    warnings = []
    closed = sum(g.group.count for g in inputs.groups if g.group.arrival.kind == "closed")
    if closed > hello.max_sessions:
        warnings.append(f"{closed} closed-loop devices against a server of {hello.max_sessions} "
                        "sessions: sessions beyond it are refused (CAPACITY) and retried after "
                        "the think time; start serve with a larger --max-sessions to avoid it")  # fmt: skip
    spec = inputs.fleet.server
    if (spec.max_batch, spec.batch_window_ms) != (hello.max_batch, 1e3 * hello.batch_window_s):
        warnings.append(f"the server batches up to {hello.max_batch} rounds with a "
                        f"{1e3 * hello.batch_window_s:g} ms window; the fleet file says "
                        f"{spec.max_batch} and {spec.batch_window_ms:g} ms (the model uses the "
                        "fleet file's)")  # fmt: skip
    return warnings


def _read_records(path: Path) -> tuple[list[FleetRound], list[FleetSession]]:
    rounds, sessions = [], []
    if not path.is_file():
        return rounds, sessions
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        data = json.loads(line)
        kind = data.pop("kind")
        (rounds if kind == "round" else sessions).append(
            FleetRound(**data) if kind == "round" else FleetSession(**data)
        )
    return rounds, sessions


def _run_loadgen(plan_path: Path, records: Path, log: Path, total_s: float) -> dict:
    """Run the load generator with a progress bar; its last line (CPU, Locust's statistics)."""
    command = [sys.executable, "-m", "configspec.fleet.loadgen", str(plan_path), str(records)]
    last: dict = {}
    with open(log, "w") as err:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            with step_progress("emulating", int(np.ceil(total_s))) as (_, describe, progress):
                task = progress.tasks[0].id
                for line in proc.stdout:
                    try:
                        last = json.loads(line)
                    except ValueError:
                        continue
                    if "t" in last:
                        progress.update(task, completed=min(total_s, last["t"]))
                        describe(f"emulating: {last['rounds']} rounds, {last['sessions']} "
                                 "sessions")  # fmt: skip
            proc.wait(START_GRACE_S + STOP_GRACE_S)
        except subprocess.TimeoutExpired as exc:
            proc.kill()
            raise ConfigspecError(
                "the load generator did not stop after its run; killed it (no profile written)"
            ) from exc
        except BaseException:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
    if proc.returncode != 0 or not last.get("done"):
        tail = log.read_text().strip().splitlines()[-1:] or ["no output"]
        raise ConfigspecError(f"the load generator failed (exit {proc.returncode}): {tail[0]}")
    return last


def _drafting_lag(rounds: list[FleetRound]) -> dict[str, float]:
    lag = [r.draft_s - r.draft_target_s for r in rounds]
    return percentiles(lag, with_mean=False)


@dataclass(frozen=True)
class Prepared:
    """A fleet ready to run: its checked inputs and the server's Hello."""

    inputs: FleetInputs
    fingerprints: dict[str, str]
    hello: pb.HelloReply
    warnings: list[str]


def prepare(options: FleetOptions) -> Prepared:
    """Read the fleet and its profiles, ask the server, check they fit (one line if not)."""
    from configspec.registry import load_registry

    if options.duration_s <= 0 or options.warmup_s < 0 or options.round_timeout_s <= 0:
        raise ConfigspecError("--duration and --round-timeout must be > 0, --warmup >= 0")
    fleet = load_fleet(options.fleet)
    require_configured(fleet, "configspec fleet")
    registry = load_registry(options.models)
    tokenizers = load_tokenizers(fleet, registry)  # checks the drafts' families first
    inputs = load_fleet_inputs(fleet, registry, tokenizers)
    hello = probe_server(options.server)
    warnings = check_server(hello, inputs, tokenizers, options.server)
    return Prepared(inputs, tokenizers.fingerprints, hello, warnings)


def emulate(prepared: Prepared, options: FleetOptions) -> FleetProfile:
    """Run the emulated devices against the server; the fleet profile (not yet written)."""
    locust = locust_version()  # never `import locust` here: it patches this process with gevent
    inputs, hello = prepared.inputs, prepared.hello
    fleet = inputs.fleet
    for warning in prepared.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    settings = FleetSettings(
        fleet_file=str(options.fleet), server=options.server, target=hello.target,
        target_file_sha256=hello.target_file_sha256, server_max_sessions=hello.max_sessions,
        server_max_batch=hello.max_batch, server_batch_window_s=hello.batch_window_s,
        alignment=str(fleet.alignment),
        verification=str(fleet.verification) if fleet.verification else None,
        duration_s=options.duration_s, warmup_s=options.warmup_s, seed=options.seed,
        round_timeout_s=options.round_timeout_s,
        loadgen=f"locust {locust} (gevent, grpc.experimental.gevent)",
    )  # fmt: skip
    environment = Environment.capture(options.device, 1, "emulated", locust)
    console.print(f"fleet: {fleet.devices} emulated device(s) in {len(fleet.groups)} group(s) "
                  f"against {hello.target} at {options.server}, {options.warmup_s:g} s warm-up + "
                  f"{options.duration_s:g} s measured\n  emulated: draft compute (step times "
                  "sampled from the drafting profiles), network (relay delay and link rate)\n"
                  "  real: the server, verification, batching, the gRPC protocol",
                  highlight=False)  # fmt: skip
    host, port = parse_address(options.server)
    relays: dict[str, Relay] = {}
    try:
        for g in inputs.groups:
            net = g.group.network
            shape = LinkShape(net.rtt_ms / 1000.0,
                              net.bandwidth_mbit_s * 1e6 if net.bandwidth_mbit_s else None)  # fmt: skip
            relays[g.group.name] = Relay(host, port, shape).start()
        with tempfile.TemporaryDirectory(prefix="configspec-fleet-") as tmp:
            tmp = Path(tmp)
            plan = make_plan(inputs, {n: f"127.0.0.1:{r.port}" for n, r in relays.items()},
                             prepared.fingerprints, options.duration_s, options.warmup_s,
                             options.seed, options.round_timeout_s)  # fmt: skip
            (tmp / "plan.json").write_text(plan.model_dump_json())
            cpu0, wall0 = time.process_time(), time.perf_counter()
            last = _run_loadgen(tmp / "plan.json", tmp / "records.jsonl", tmp / "loadgen.log",
                                options.warmup_s + options.duration_s)  # fmt: skip
            relay_cpu_s = time.process_time() - cpu0
            wall_s = time.perf_counter() - wall0
            rounds, sessions = _read_records(tmp / "records.jsonl")
    finally:
        counters = {name: relay.counters() for name, relay in relays.items()}
        for relay in relays.values():
            relay.stop()
    profile = FleetProfile(environment=environment, settings=settings,
                           warnings=list(prepared.warnings))  # fmt: skip
    summarise(profile, inputs, rounds, sessions, counters)
    profile.open_sessions_unserved = sum(last.get("unserved", {}).values())
    profile.emulator = EmulatorLoad(
        cpu_s=last["cpu_s"] + relay_cpu_s, wall_s=wall_s, loadgen_cpu_s=last["cpu_s"],
        relay_cpu_s=relay_cpu_s, cores=(last["cpu_s"] + relay_cpu_s) / wall_s,
        drafting_lag_s=_drafting_lag(rounds),
    )  # fmt: skip
    for g in profile.groups:
        g.locust = last.get("locust", {}).get(g.name, {})
    profile.warnings += [f"the load generator raised {e}" for e in last.get("errors", [])]
    if any("UNAVAILABLE" in s.message for s in sessions):
        profile.interrupted = True
        profile.warnings.append("the server stopped answering during the run")
    return profile


def run_fleet(options: FleetOptions) -> tuple[FleetProfile, Path]:
    prepared = prepare(options)
    try:
        profile = emulate(prepared, options)
    except KeyboardInterrupt:
        exit_interrupted(0, "", None, "interrupted before the end of the run: no fleet profile")
    out = options.out or default_output(profile.environment.device, "fleet")
    save_profile(profile, out)
    print_fleet(profile)
    if profile.interrupted:
        raise ConfigspecError(f"the server at {options.server} stopped answering during the run; "
                              f"kept {len(profile.round_samples)} rounds in {out}, marked "
                              "interrupted")  # fmt: skip
    console.print(f"fleet profile written to {out}")
    return profile, out


def summarise(profile: FleetProfile, inputs: FleetInputs, rounds: list[FleetRound],
              sessions: list[FleetSession], counters: dict[str, tuple[int, int]]) -> None:  # fmt: skip
    """Fill the profile's figures from the raw records (kept in the profile too)."""
    s = profile.settings
    measured = in_span(rounds, s.warmup_s, s.duration_s)
    power = server_power(inputs)
    for g in inputs.groups:
        name = g.group.name
        profile.groups.append(group_result(
            g, [r for r in measured if r.group == name], [x for x in sessions if x.group == name],
            counters.get(name, (0, 0)), sum(r.group == name for r in rounds), power,
        ))  # fmt: skip
    profile.server = server_result(measured, s.duration_s)
    profile.rounds_checked = len(rounds)
    profile.rounds_not_as_predicted = sum(not r.as_predicted for r in rounds)
    profile.sessions_timed_out = sum(x.status == "timeout" for x in sessions)
    profile.sessions_refused = sum(x.status == "refused" for x in sessions)
    profile.sessions_failed = sum(x.status == "error" for x in sessions)
    profile.round_samples = rounds
    profile.session_samples = sessions
    if profile.rounds_not_as_predicted:
        profile.warnings.append(
            f"{profile.rounds_not_as_predicted} of {len(rounds)} rounds were not verified as the "
            "traces predict (batched and single-token target logits can differ at near-ties; "
            "many mismatches mean the server's target or the traces are not what they claim)"
        )
    if not measured:
        profile.warnings.append("no round completed inside the measured span: lengthen --duration")


def print_fleet(profile: FleetProfile) -> None:
    drafts = ", ".join(sorted({g.draft for g in profile.groups}))
    table = Table(title=f"{drafts} drafting for {profile.settings.target} (measured span "
                        f"{profile.settings.duration_s:g} s)")  # fmt: skip
    for column in ("group", "devices", "quant, policy", "arrival"):
        table.add_column(column, no_wrap=True)
    for column in ("goodput tok/s/device", "ITL p50/p99 ms", "tokens/round", "sessions",
                   "J/token edge+server"):  # fmt: skip
        table.add_column(column, justify="right")
    for g in profile.groups:
        itl = g.inter_token_latency_s
        arrival = (f"closed, think {g.think_s:g} s" if g.arrival == "closed"
                   else f"open, {g.sessions_per_s:g} sessions/s")  # fmt: skip
        energy = ("-" if g.edge_j_per_token is None else f"{g.edge_j_per_token:.2f}+"
                  + ("?" if g.server_j_per_token is None else f"{g.server_j_per_token:.2f}"))  # fmt: skip
        table.add_row(
            g.name, f"{g.devices_measured}/{g.count}", f"{g.quant} {g.policy.label}", arrival,
            f"{g.goodput_tok_s:.2f}",
            f"{1e3 * itl.get('p50', 0):.0f}/{1e3 * itl.get('p99', 0):.0f}",
            f"{g.tokens_per_round:.2f}", " ".join(f"{k} {v}" for k, v in sorted(g.sessions.items())),
            energy,
        )  # fmt: skip
    stdout.print(table)
    sv, em = profile.server, profile.emulator
    q = sv.queue_s
    stdout.print(
        f"server: {sv.verified_tokens_per_s:.2f} verified tok/s, {sv.rounds_per_s:.2f} rounds/s, "
        f"utilisation {sv.utilisation:.0%}, mean batch {sv.batch_size_mean:.2f}, queue wait "
        f"p50/p99 {1e3 * q.get('p50', 0):.0f}/{1e3 * q.get('p99', 0):.0f} ms\n"
        f"checks: {profile.rounds_checked - profile.rounds_not_as_predicted} of "
        f"{profile.rounds_checked} rounds verified as the traces predict; sessions timed out "
        f"{profile.sessions_timed_out}, refused {profile.sessions_refused}, failed "
        f"{profile.sessions_failed}, open-loop arrivals unserved {profile.open_sessions_unserved}"
        + (f"\nemulator: {em.cores:.1%} of one core (load generator {em.loadgen_cpu_s:.1f} s, "
           f"relays {em.relay_cpu_s:.1f} s CPU over {em.wall_s:.0f} s); drafting waits late by "
           f"p50/p99 {1e3 * em.drafting_lag_s.get('p50', 0):.1f}/"
           f"{1e3 * em.drafting_lag_s.get('p99', 0):.1f} ms" if em else "")
        + "\nemulated: draft compute, network; real: server, verification, batching, protocol",
        highlight=False,
    )  # fmt: skip
    for warning in profile.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
