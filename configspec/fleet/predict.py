"""The model's view of a fleet: from the fleet's inputs to the model's numbers, and predictions.

Each group's rounds are the same the emulation plays (workload.plan_rounds over the traces),
its drafting time the same step-time samples, its bytes the payload formula (docs/model.md), so
model and emulation differ only where the model approximates. Two predictors: exact MVA
(analytic/fleet_model.py, closed loop, means) and the discrete-event simulation
(analytic/fleet_sim.py, closed or open loop, distributions), summarised by the same code as the
emulation's records. `FleetTerms` are the real system's own per-round costs (docs/model.md, "The
real system's own terms"): zero unless calibrated from a fleet profile.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace

import numpy as np

from configspec.analytic import formulas as f
from configspec.analytic.batching import BatchCost
from configspec.analytic.fleet_model import (
    FleetPrediction,
    GroupLoad,
    GroupPrediction,
    ServerTerms,
    predict_mva,
)  # fmt: skip
from configspec.analytic.fleet_sim import (
    ScriptRound,
    SessionScript,
    SimGroup,
    Simulation,
)
from configspec.errors import ConfigspecError
from configspec.fleet.inputs import FleetInputs, GroupInputs
from configspec.fleet.measure import device_goodputs, in_span
from configspec.fleet.spec import ServerSpec
from configspec.fleet.workload import plan_rounds
from configspec.profiles.fleet import FleetProfile

ID_BYTES, HEADER_BYTES, VERDICT_BYTES = 4, 48, 34  # configspec's protocol (docs/model.md)
SIM_SPAN_S = 1200.0  # simulated seconds per prediction: long enough for steady means
SIM_WARMUP_S = 60.0
METHODS = ("mva", "simulation")


@dataclass(frozen=True)
class FleetTerms:
    """Per-round costs of the real transport and server, beyond the forward call."""

    wire_s: float = 0.0  # the transport's base round trip (gRPC, relay, kernel) per round
    server_round_s: float = 0.0  # server work per round outside the forward call
    source: str = "none (zero)"


def calibrate(profile: FleetProfile) -> FleetTerms:
    """The terms as a fleet run measured them (medians over its rounds): wire = verdict wait -
    the server's own time - the emulated round trip; server work = server time - queue - call
    (taken from rounds verified alone, where it is one round's work)."""
    rtt = {g.name: g.rtt_ms / 1000.0 for g in profile.groups}
    rounds = profile.round_samples
    if not rounds:
        raise ConfigspecError("the calibration fleet profile has no rounds")
    wire = statistics.median(r.round_s - r.draft_s - r.server_s - rtt.get(r.group, 0.0)
                             for r in rounds)  # fmt: skip
    alone = [r for r in rounds if r.batch_size == 1] or rounds
    server = statistics.median(r.server_s - r.queue_s - r.verify_s for r in alone)
    return FleetTerms(
        max(0.0, wire), max(0.0, server), f"calibrated from {profile.settings.fleet_file}"
    )


def server_terms(spec: ServerSpec, terms: FleetTerms) -> ServerTerms:
    return ServerTerms(spec.max_batch, spec.batch_window_ms / 1000.0, spec.prefill_chunk_tokens,
                       terms.server_round_s)  # fmt: skip


def _one_way_s(g: GroupInputs, message_bytes: float, terms: FleetTerms) -> float:
    net = g.group.network
    rate = net.bandwidth_mbit_s * 1e6 if net.bandwidth_mbit_s else None
    return net.rtt_ms / 2000.0 + terms.wire_s / 2 + (8 * message_bytes / rate if rate else 0.0)


def _message_bytes(drafted: float, n_vocab: int) -> tuple[float, float]:
    up = f.upload_bytes(drafted, "greedy", ID_BYTES, 2, n_vocab, None, HEADER_BYTES)
    return float(up), float(f.download_bytes(HEADER_BYTES, VERDICT_BYTES))


def group_load(g: GroupInputs, n_vocab: int, terms: FleetTerms) -> GroupLoad:
    plans = [(p, plan_rounds(p, g.group.policy, n_vocab)) for p in g.prompts]
    rounds = [(p, r) for p, pl in plans for r in pl]
    n = len(rounds)
    drafted = sum(len(r.drafted) for _, r in rounds) / n
    up, down = _message_bytes(drafted, n_vocab)
    return GroupLoad(
        name=g.group.name, count=g.group.count,
        tokens_per_round=sum(r.emitted for _, r in rounds) / n, round_tokens=drafted + 1,
        draft_s=sum(r.calls * g.steps.mean_s(len(p.prompt_ids) + r.start) for p, r in rounds) / n,
        net_s=_one_way_s(g, up, terms) + _one_way_s(g, down, terms),
        rounds_per_session=n / len(plans),
        prefill_tokens=float(np.mean([len(p.prompt_ids) - 1 for p in g.prompts])),
        context_tokens=float(np.mean([len(p.prompt_ids) - 1 + r.start for p, r in rounds])),
        think_s=g.group.arrival.think_s,
    )  # fmt: skip


def sim_group(g: GroupInputs, n_vocab: int, terms: FleetTerms) -> SimGroup:
    arrival = g.group.arrival
    scripts = []
    for p in g.prompts:
        planned = plan_rounds(p, g.group.policy, n_vocab)
        scripts.append(SessionScript(p.id, len(p.prompt_ids), tuple(
            ScriptRound(r.calls, len(r.drafted), r.emitted, r.start) for r in planned)))  # fmt: skip
    drafted = float(np.mean([r.drafted for s in scripts for r in s.rounds]))
    up, down = _message_bytes(drafted, n_vocab)
    return SimGroup(
        name=g.group.name, count=g.group.count, scripts=tuple(scripts),
        draw_draft_s=g.steps.draw_s, up_s=_one_way_s(g, up, terms),
        down_s=_one_way_s(g, down, terms), closed=arrival.kind == "closed",
        think_s=arrival.think_s, sessions_per_s=arrival.sessions_per_s,
    )  # fmt: skip


def as_played(inputs: FleetInputs, profile: FleetProfile) -> FleetInputs:
    """The fleet's inputs with each group's prompts as a run played them: every prompt once per
    session of it with a round in the measured span. A device cycles through the prompts one
    session at a time, so a short run plays a few of them per group (3 to 5 of 12 in two
    minutes), whose lengths and acceptance differ from the whole set's; the model compared
    with such a run must describe the same work (docs/fleet.md)."""
    span = in_span(profile.round_samples, profile.settings.warmup_s, profile.settings.duration_s)
    measured = {(r.group, r.device, r.session) for r in span}
    played: dict[str, list[str]] = {}
    for s in profile.session_samples:
        if (s.group, s.device, s.session) in measured:
            played.setdefault(s.group, []).append(s.prompt)
    groups = []
    for g in inputs.groups:
        by_id = {p.id: p for p in g.prompts}
        prompts = [by_id[i] for i in played.get(g.group.name, []) if i in by_id]
        groups.append(replace(g, prompts=prompts or g.prompts))
    return replace(inputs, groups=groups)


def predict(inputs: FleetInputs, cost: BatchCost, terms: FleetTerms = FleetTerms(),
            method: str = "mva", seed: int = 0) -> FleetPrediction:  # fmt: skip
    """Per-group goodput and latency and the server's throughput, by MVA or simulation."""
    if method not in METHODS:
        raise ConfigspecError(f"the model is mva or simulation, not {method!r}")
    spec = inputs.fleet.server
    server = server_terms(spec, terms)
    if method == "mva":
        if any(g.group.arrival.kind == "open" for g in inputs.groups):
            raise ConfigspecError("open-loop groups need the simulation (MVA is closed-loop)")
        return predict_mva([group_load(g, inputs.n_vocab, terms) for g in inputs.groups],
                           cost, server)  # fmt: skip
    return simulate([sim_group(g, inputs.n_vocab, terms) for g in inputs.groups], cost,
                    replace(server, max_sessions=spec.max_sessions), seed)  # fmt: skip


def simulate(groups: list[SimGroup], cost: BatchCost, server: ServerTerms,
             seed: int = 0) -> FleetPrediction:  # fmt: skip
    """The simulation's figures for these groups, after a warm-up, over SIM_SPAN_S."""
    sim = Simulation(groups, cost, server, seed).run(SIM_WARMUP_S + SIM_SPAN_S,
                                                     ramp_s=SIM_WARMUP_S / 2)  # fmt: skip
    return summarise_simulation(sim, SIM_WARMUP_S, SIM_SPAN_S)


def summarise_simulation(sim: Simulation, warmup_s: float, span_s: float) -> FleetPrediction:
    rounds = in_span(sim.rounds, warmup_s, span_s)
    groups = []
    for g in sim.groups:
        mine = [r for r in rounds if r.group == g.name]
        goodputs = device_goodputs(mine)
        tokens = sum(r.emitted for r in mine)
        goodput = float(np.mean(goodputs)) if goodputs else 0.0
        round_s = float(np.mean([r.round_s for r in mine])) if mine else float("inf")
        server_s = float(np.mean([r.server_s for r in mine])) if mine else float("inf")
        groups.append(GroupPrediction(g.name, g.count, goodput,
                                      sum(r.round_s for r in mine) / tokens if tokens else float("inf"),
                                      round_s, server_s, tokens / span_s))  # fmt: skip
    busy = sum(r.verify_s / r.batch_size for r in rounds)
    return FleetPrediction(groups, sum(p.tokens_per_s for p in groups), busy / span_s, "simulation")
