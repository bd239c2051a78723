"""From the load generator's records to the fleet profile's figures (pure; no I/O).

The measured span is [warm-up, warm-up + duration]: a round counts when it started drafting
after the warm-up and its verdict came before the end. Per device, goodput is its tokens over
its rounds' time (drafting + waiting for the verdict: the decode time, as `configspec edge`
counts it); a group's goodput is the mean over its devices. Inter-token latency: a round's
tokens arrive together, each gets the round's time / its count (as `configspec edge`). Server
figures come from the verdicts: verified tokens and rounds per second of the span, utilisation
= sum of verify_s / batch size over the rounds (exact when every round of a call is this
fleet's), calls per batch size = rounds verified at size b / b.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from configspec.fleet.inputs import FleetInputs, GroupInputs
from configspec.profiles.fleet import FleetRound, FleetSession, GroupResult, ServerResult
from configspec.profiles.summary import Summary

PERCENTILES = (50, 90, 99)


def percentiles(values, with_mean: bool = True) -> dict[str, float]:
    if len(values) == 0:
        return {}
    out = {f"p{q}": float(np.percentile(values, q)) for q in PERCENTILES}
    return {"mean": float(np.mean(values)), **out} if with_mean else out


def in_span(rounds: list[FleetRound], warmup_s: float, duration_s: float) -> list[FleetRound]:
    end = warmup_s + duration_s
    return [r for r in rounds if r.start_s >= warmup_s and r.answer_s <= end]


def itl_samples(rounds: list[FleetRound]) -> np.ndarray:
    """One value per token: the round's time over its tokens (they arrive together)."""
    return np.repeat([r.round_s / r.emitted for r in rounds], [r.emitted for r in rounds])


def device_goodputs(rounds: list[FleetRound]) -> list[float]:
    """Per device: its tokens over its rounds' time (drafting + waiting for the verdict)."""
    by_device: dict[int, list[FleetRound]] = defaultdict(list)
    for r in rounds:
        by_device[r.device].append(r)
    return [sum(r.emitted for r in rs) / sum(r.round_s for r in rs) for rs in by_device.values()]


def server_power(inputs: FleetInputs) -> tuple[float | None, str]:
    """Mean power of the target's verification calls (profile) or the fleet file's estimate."""
    v = inputs.verification
    points = [p for p in v.points if p.energy_j is not None] if v else []
    if points:
        power = float(np.mean([p.energy_j.mean / p.latency_s.mean for p in points]))
        return power, "+".join(sorted({p.power_source or "unknown" for p in points}))
    if inputs.fleet.server.power_w is not None:
        return inputs.fleet.server.power_w, "estimated:fleet server.power_w"
    return None, "no server power (verification profile without energy, no server.power_w)"


def group_result(
    g: GroupInputs, rounds: list[FleetRound], sessions: list[FleetSession],
    bytes_up_down: tuple[int, int], all_rounds: int, server_w: tuple[float | None, str],
) -> GroupResult:  # fmt: skip
    spec = g.group
    result = GroupResult(
        name=spec.name, device=g.device, draft=g.draft.name, quant=spec.quant,
        policy=spec.policy, count=spec.count,
        rtt_ms=spec.network.rtt_ms, bandwidth_mbit_s=spec.network.bandwidth_mbit_s,
        arrival=spec.arrival.kind, think_s=spec.arrival.think_s,
        sessions_per_s=spec.arrival.sessions_per_s,
    )  # fmt: skip
    statuses: dict[str, int] = defaultdict(int)
    for s in sessions:
        statuses[s.status] += 1
    result.sessions = dict(statuses)
    first = {}
    for r in sorted(rounds, key=lambda r: r.start_s):
        first.setdefault((r.device, r.session), r.answer_s)
    ttft = [first[(s.device, s.session)] - s.open_s for s in sessions
            if (s.device, s.session) in first]  # fmt: skip
    result.ttft_s = Summary.of(ttft) if ttft else None
    waits = [s.waited_s for s in sessions if spec.arrival.kind == "open"]
    result.open_wait_s = Summary.of(waits) if waits else None
    if all_rounds:
        result.bytes_up_per_round = bytes_up_down[0] / all_rounds
        result.bytes_down_per_round = bytes_up_down[1] / all_rounds
    if not rounds:
        return result
    by_device: dict[int, list[FleetRound]] = defaultdict(list)
    for r in rounds:
        by_device[r.device].append(r)
    goodputs = [
        sum(r.emitted for r in rs) / sum(r.round_s for r in rs) for rs in by_device.values()
    ]
    tokens = sum(r.emitted for r in rounds)
    result.devices_measured = len(by_device)
    result.rounds = len(rounds)
    result.tokens = tokens
    result.goodput_per_device_tok_s = goodputs
    result.goodput_tok_s = float(np.mean(goodputs))
    result.inter_token_latency_s = percentiles(itl_samples(rounds))
    result.tokens_per_round = tokens / len(rounds)
    result.drafted_per_round = float(np.mean([r.drafted for r in rounds]))
    result.draft_s_per_round = float(np.mean([r.draft_s for r in rounds]))
    result.wait_s_per_round = float(np.mean([r.round_s - r.draft_s for r in rounds]))
    edge_j = sum(g.draft_power_w * r.draft_s + g.idle_power_w * (r.round_s - r.draft_s)
                 for r in rounds)  # fmt: skip
    result.edge_j_per_token = edge_j / tokens
    result.edge_energy_source = f"draft {g.draft_power_source}, idle {g.idle_power_source}"
    power_w, source = server_w
    if power_w is not None:
        result.server_j_per_token = (
            power_w * sum(r.verify_s / r.batch_size for r in rounds) / tokens
        )
    result.server_energy_source = source
    return result


def server_result(rounds: list[FleetRound], duration_s: float) -> ServerResult:
    if not rounds:
        return ServerResult()
    per_size: dict[int, float] = defaultdict(float)
    for r in rounds:
        per_size[r.batch_size] += 1.0 / r.batch_size
    calls = sum(per_size.values())
    return ServerResult(
        verified_tokens_per_s=sum(r.emitted for r in rounds) / duration_s,
        rounds_per_s=len(rounds) / duration_s,
        utilisation=sum(r.verify_s / r.batch_size for r in rounds) / duration_s,
        batch_size_histogram={b: round(n, 3) for b, n in sorted(per_size.items())},
        batch_size_mean=len(rounds) / calls,
        queue_s=percentiles([r.queue_s for r in rounds]),
        verify_s_per_call=sum(r.verify_s / r.batch_size for r in rounds) / calls,
    )  # fmt: skip
