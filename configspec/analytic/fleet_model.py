"""Many devices, one server: per-device goodput, latency and server capacity by exact MVA (pure).

Each device group is a class of the closed network of queueing.py. Per round, a device spends
Z = drafting + network (+ its share of the session's think time) away from the server. At the
server every round of a call waits for the whole call, whatever its own length, so all classes
get one service time (FCFS with class-independent service keeps the product form): the
population-weighted mean of t_v(D_c, 1) + the per-round work outside the forward call, plus each
session's prefill chunks spread over its rounds. Batching is the server's load-dependent rate:
with j rounds present it verifies b = min(j, max_batch) per call of t(b) = t_v(mean tokens, b) +
b x per-round work, so alpha(j) = b t(1) / t(b) (t(b) at the population-weighted mean length).
Every call is priced at the context the server's KV buffer holds (`held_context`): configspec
serve keeps all sessions in one unified buffer, and a call's attention reads every cell of it up
to the highest one in use (llama.cpp's llama_kv_cache::get_n_kv), so with N sessions open a call
costs what one sequence at the sum of their contexts costs (benchmarks/kv_occupancy.py: within
4% for calls of 1 and 5 tokens next to 8 and 16 other sessions). Every device of a closed loop
holds its session's cells while it drafts (think time between sessions is not subtracted).
The batching window delays a round that finds the server idle (while others may still send).
A round's own residence is its own service plus the queue ahead of it (in units of the whole
demand: others' rounds and prefill chunks); its session's prefill share belongs to the wait for
Opened, not to decoding.

Per device: goodput = N / (T_draft + T_net + R) while decoding (N tokens per round, R the
server residence), mean inter-token latency = 1 / goodput; the server's verified tokens/s =
sum_c X_c N_c. Capacity: the most devices of one kind whose mean inter-token latency meets a
target. The server-only baseline: the same sessions decoded by the target alone with continuous
batching (one token per session per step, t_v(0, b) per step, no device in the loop).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from configspec.analytic.batching import BatchCost
from configspec.analytic.queueing import mva_load_dependent


@dataclass(frozen=True)
class GroupLoad:
    """One device group as the model sees it (means per round and per session)."""

    name: str
    count: int
    tokens_per_round: float  # N = accepted + 1
    round_tokens: float  # D + 1: tokens the round puts in the server's call
    draft_s: float  # drafting per round
    net_s: float  # per round: round trip, serialisation, transport
    rounds_per_session: float
    prefill_tokens: float  # per session (the prompt less its last token)
    context_tokens: float  # mean server context of its rounds
    think_s: float = 0.0  # between sessions (closed loop)


@dataclass(frozen=True)
class ServerTerms:
    max_batch: int
    window_s: float
    prefill_chunk_tokens: int
    round_overhead_s: float = 0.0  # server work per round outside the forward call
    # sessions the server holds at once; the simulation refuses (and retries) beyond it, MVA's
    # closed population never exceeds it in the fleets it is used for
    max_sessions: int = 1 << 30
    # one KV buffer for all sessions (configspec serve, llama-server --kv-unified): a call pays
    # attention over every session's cells; False: each session's own cells only (paged)
    shared_kv: bool = True


@dataclass(frozen=True)
class GroupPrediction:
    name: str
    count: int
    goodput_tok_s: float  # per device, while decoding
    itl_s: float  # mean inter-token latency = 1 / goodput
    round_s: float  # drafting + network + server residence
    server_s: float  # server residence per round (queue + verification)
    tokens_per_s: float  # the whole group


@dataclass(frozen=True)
class FleetPrediction:
    groups: list[GroupPrediction]
    verified_tokens_per_s: float
    utilisation: float
    method: str = "mva"


def _call_s(cost: BatchCost, server: ServerTerms, b: int, round_tokens: float, ctx: float) -> float:
    return cost.call_s([round_tokens] * b, 0, ctx) + b * server.round_overhead_s


def predict_mva(groups: list[GroupLoad], cost: BatchCost, server: ServerTerms) -> FleetPrediction:
    """Per-group goodput and latency and the server's throughput for a closed-loop fleet."""
    counts = np.array([g.count for g in groups], float)
    mean_tokens = float(np.average([g.round_tokens for g in groups], weights=counts))
    mean_ctx = held_context(groups, server)
    t1 = _call_s(cost, server, 1, mean_tokens, mean_ctx)
    times = {}
    slope = _per_token_s(cost, mean_ctx, server.prefill_chunk_tokens)
    contexts = [mean_ctx if server.shared_kv else g.context_tokens for g in groups]
    rounds_s = [
        _call_s(cost, server, 1, g.round_tokens, c) for g, c in zip(groups, contexts, strict=True)
    ]
    prefill_s = [g.prefill_tokens * slope / g.rounds_per_session for g in groups]
    # every round of a call waits for the whole call, whatever its own length: one service time
    # for every class (FCFS, class-independent, so the product form holds)
    round_s = float(np.average(rounds_s, weights=counts))
    chunk_s = float(np.average(prefill_s, weights=counts))
    demand = round_s + chunk_s

    def alpha(j: int) -> float:
        """Batching speeds up the rounds' part of the demand only: a prefill chunk costs its
        tokens whatever rides with it (ragged packing)."""
        b = min(j, server.max_batch)
        if b not in times:
            times[b] = _call_s(cost, server, b, mean_tokens, mean_ctx)
        return demand / (round_s * times[b] / (b * t1) + chunk_s)

    think = [g.draft_s + g.net_s + g.think_s / g.rounds_per_session for g in groups]
    result = mva_load_dependent([g.count for g in groups], think, [demand] * len(groups), alpha,
                                server.window_s)  # fmt: skip
    out = []
    for k, g in enumerate(groups):
        window = server.window_s * result.idle_on_arrival[k] if sum(counts) > 1 else 0.0
        # its own service, and the queue ahead of it in the units of the whole demand
        server_s = round_s + demand * (result.stretch[k] - 1.0) + window
        decoding_s = g.draft_s + g.net_s + server_s
        goodput = g.tokens_per_round / decoding_s
        out.append(GroupPrediction(g.name, g.count, goodput, 1.0 / goodput, decoding_s, server_s,
                                   float(result.throughput[k] * g.tokens_per_round)))  # fmt: skip
    return FleetPrediction(out, sum(p.tokens_per_s for p in out), 1.0 - result.idle)


def held_context(groups: list[GroupLoad], server: ServerTerms) -> float:
    """The context a call is priced at: with a shared KV buffer, the cells every open session
    holds (sum of count x mean context); otherwise a round's own mean context."""
    counts = [g.count for g in groups]
    if server.shared_kv:
        return float(sum(g.count * g.context_tokens for g in groups))
    return float(np.average([g.context_tokens for g in groups], weights=counts))


def _per_token_s(cost: BatchCost, ctx: float, chunk_tokens: int) -> float:
    """Server time per prefill token riding along with the rounds (ragged packing): the slope of
    t_v at batch 1 over a chunk's length, t_v(C - 1) - t_v(0) over C - 1 tokens. A CPU's cost
    per token falls as the call grows (docs/verification.md): the slope over the first 8 tokens
    was twice what a 64-token chunk cost; the profile should reach K = C - 1 at batch 1."""
    k = max(1, chunk_tokens - 1)
    return max(0.0, cost.latency_s(k, 1, ctx) - cost.latency_s(0, 1, ctx)) / k


def capacity(group: GroupLoad, cost: BatchCost, server: ServerTerms, itl_target_s: float,
             limit: int = 1000) -> int:  # fmt: skip
    """The most devices of this kind whose mean inter-token latency meets the target (0: none).
    Latency grows with the count, so the search stops at the first count that misses."""
    best = 0
    for n in range(1, limit + 1):
        if predict_mva([replace(group, count=n)], cost, server).groups[0].itl_s > itl_target_s:
            break
        best = n
    return best


def server_only(group: GroupLoad, cost: BatchCost, server: ServerTerms) -> GroupPrediction:
    """The target alone serving the same sessions with continuous batching: each session gets
    one token per step, a step verifies min(sessions, max_batch) of them in t_v(0, b)."""
    alone = replace(group, tokens_per_round=1.0, round_tokens=1.0, draft_s=0.0, net_s=0.0,
                    rounds_per_session=group.rounds_per_session * group.tokens_per_round)  # fmt: skip
    return predict_mva([alone], cost, replace(server, window_s=0.0)).groups[0]
