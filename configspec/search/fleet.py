"""The joint space of a fleet: per device group a draft x quant x policy, for the server a batch
limit and window; every joint configuration evaluated by the fleet model (exact MVA).

Objectives: total goodput (the server's verified tokens/s, maximised), US$ per 1M tokens and J
per token (minimised) for the whole fleet: the server is the fleet's (its whole price and its
verification power shared by the fleet's tokens), each device costs SLED's CAPEX/OPEX and draws
its drafting power while drafting and its idle power otherwise. Constraints: each group's mean
inter-token latency within its target. Exact enumeration when the joint space (after dropping
each group's candidates that ask more of both the device and the server per token) fits the
budget; Optuna otherwise (NSGA-II over the three objectives, the latency excess as constraints,
optional shared storage so several workers search one study).

MVA screens, the simulation decides: MVA is fast (the whole joint space) but treats the server
as sharing its time among the rounds present, so a group that drafts less looks as if it freed
server time for the others. The real server verifies whole calls, and every round waits for
them whatever its own length; the simulation follows that engine. `confirm` re-evaluates the
best joint configurations by MVA with a second predictor (the simulation, recommend/fleet.py).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from configspec.analytic import formulas as f
from configspec.analytic.batching import BatchCost
from configspec.analytic.fleet_model import FleetPrediction, GroupLoad, ServerTerms, predict_mva
from configspec.analytic.fleet_sim import SimGroup
from configspec.errors import ConfigspecError
from configspec.profiles.policy import Policy

OBJECTIVES = ("goodput", "cost", "energy")


@dataclass(frozen=True)
class Candidate:
    """One draft x quant x policy for one group, as the model sees it."""

    group: str
    draft: str
    quant: str
    policy: Policy
    load: GroupLoad
    draft_w: float
    idle_w: float
    itl_target_s: float | None
    sim: SimGroup | None = None  # the same group's session scripts, for the simulation

    @property
    def label(self) -> str:
        return f"{self.draft} {self.quant} {self.policy.label}"

    def per_token(self, cost: BatchCost) -> tuple[float, float, float]:
        """(device s, server s, edge J) per token with the device alone: what pruning compares."""
        g = self.load
        device_s = g.draft_s + g.net_s
        server_s = cost.call_s([g.round_tokens], 0, g.context_tokens)
        edge_j = self.draft_w * g.draft_s + self.idle_w * (g.net_s + server_s)
        return (device_s / g.tokens_per_round, server_s / g.tokens_per_round,
                edge_j / g.tokens_per_round)  # fmt: skip


@dataclass(frozen=True)
class Prices:
    server_usd_per_hour: float
    server_w: float | None  # while verifying; None: not known (energy counts the devices only)
    purchase_usd: float
    lifetime_h: float
    utilisation: float
    usd_per_kwh: float


@dataclass(frozen=True)
class Joint:
    picks: tuple[Candidate, ...]
    max_batch: int
    window_s: float
    prediction: FleetPrediction
    goodput_tok_s: float  # the fleet's verified tokens/s
    usd_per_1m_tokens: float
    joules_per_token: float
    excess_s: tuple[float, ...]  # per group: mean ITL beyond its target (<= 0: met)

    @property
    def feasible(self) -> bool:
        return all(e <= 0 for e in self.excess_s)

    def objective(self, name: str) -> float:
        """To minimise."""
        return {"goodput": -self.goodput_tok_s, "cost": self.usd_per_1m_tokens,
                "energy": self.joules_per_token}[name]  # fmt: skip


#: a fleet predictor: (picks, server) -> figures; MVA unless told otherwise
Predictor = Callable[[tuple["Candidate", ...], ServerTerms], FleetPrediction]


def mva(cost: BatchCost) -> Predictor:
    return lambda picks, server: predict_mva([c.load for c in picks], cost, server)


def evaluate_joint(picks: tuple[Candidate, ...], max_batch: int, window_s: float,
                   cost: BatchCost, prices: Prices, chunk: int, overhead_s: float,
                   predictor: Predictor | None = None) -> Joint:  # fmt: skip
    server = ServerTerms(max_batch, window_s, chunk, overhead_s)
    pred = (predictor or mva(cost))(picks, server)
    tokens_s = pred.verified_tokens_per_s
    edge_usd_s, edge_w = 0.0, 0.0
    for c, p in zip(picks, pred.groups, strict=True):
        g = c.load
        average_w = f.edge_average_power_w(c.draft_w, c.idle_w, g.draft_s, p.round_s)
        hourly = f.edge_usd_per_hour(prices.purchase_usd, prices.lifetime_h, prices.utilisation,
                                     average_w, prices.usd_per_kwh)  # fmt: skip
        edge_usd_s += g.count * float(hourly) / 3600.0
        edge_w += g.count * float(average_w)
    server_w = (prices.server_w or 0.0) * pred.utilisation
    excess = tuple(p.itl_s - c.itl_target_s if c.itl_target_s else -1.0
                   for c, p in zip(picks, pred.groups, strict=True))  # fmt: skip
    return Joint(picks, max_batch, window_s, pred, tokens_s,
                 1e6 * (prices.server_usd_per_hour / 3600.0 + edge_usd_s) / tokens_s,
                 (server_w + edge_w) / tokens_s, excess)  # fmt: skip


def prune(candidates: list[Candidate], cost: BatchCost) -> list[Candidate]:
    """Drop a candidate when another needs no more device time, server time and edge energy
    per token (and less of one): it cannot serve the group or the shared server better."""
    scores = np.array([c.per_token(cost) for c in candidates])
    keep = []
    for i, s in enumerate(scores):
        dominated = np.any(np.all(scores <= s, axis=1) & np.any(scores < s, axis=1))
        if not dominated:
            keep.append(candidates[i])
    return keep


@dataclass(frozen=True)
class ServerChoices:
    max_batch: tuple[int, ...]
    window_s: tuple[float, ...]
    chunk: int
    overhead_s: float = 0.0

    def __iter__(self):
        return iter(itertools.product(self.max_batch, self.window_s))

    def __len__(self) -> int:
        return len(self.max_batch) * len(self.window_s)


def joint_space_size(groups: list[list[Candidate]], server: ServerChoices) -> int:
    return math.prod(len(c) for c in groups) * len(server)


def enumerate_joint(groups: list[list[Candidate]], server: ServerChoices, cost: BatchCost,
                    prices: Prices, on_evaluation=lambda: None) -> list[Joint]:  # fmt: skip
    out = []
    for picks in itertools.product(*groups):
        for max_batch, window_s in server:
            out.append(evaluate_joint(picks, max_batch, window_s, cost, prices, server.chunk,
                                      server.overhead_s))  # fmt: skip
            on_evaluation()
    return out


def optuna_joint(groups: list[list[Candidate]], server: ServerChoices, cost: BatchCost,
                 prices: Prices, budget: int, storage: str | None, seed: int,
                 on_evaluation=lambda: None) -> list[Joint]:  # fmt: skip
    """NSGA-II over (goodput, cost, energy) with each group's latency excess as a constraint
    (`trial.set_constraint`; Optuna counts a trial feasible when every value is <= 0)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.NSGAIISampler(seed=seed)
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"], sampler=sampler,
                                storage=storage, study_name="configspec-fleet",
                                load_if_exists=storage is not None)  # fmt: skip
    choices = list(server)
    seen: dict[tuple, Joint] = {}

    def objective(trial):
        idx = tuple(trial.suggest_int(f"g{i}", 0, len(c) - 1) for i, c in enumerate(groups))
        s = trial.suggest_int("server", 0, len(choices) - 1)
        key = (*idx, s)
        if key not in seen:
            picks = tuple(c[i] for c, i in zip(groups, idx, strict=True))
            seen[key] = evaluate_joint(picks, *choices[s], cost, prices, server.chunk,
                                       server.overhead_s)  # fmt: skip
            on_evaluation()
        j = seen[key]
        for c, excess in zip(j.picks, j.excess_s, strict=True):
            trial.set_constraint(f"itl_{c.group}", float(excess))
        return j.goodput_tok_s, j.usd_per_1m_tokens, j.joules_per_token

    study.optimize(objective, n_trials=budget)
    return list(seen.values())


def ranked(results: list[Joint], objective: str) -> list[Joint]:
    """The feasible joint configurations, best first by `objective` (ties: the others)."""
    if objective not in OBJECTIVES:
        raise ConfigspecError(f"--objective is one of {', '.join(OBJECTIVES)}, not {objective!r}")
    others = [o for o in OBJECTIVES if o != objective]
    return sorted((j for j in results if j.feasible),
                  key=lambda j: (j.objective(objective), *(j.objective(o) for o in others)))  # fmt: skip


def confirm(results: list[Joint], objective: str, n: int, cost: BatchCost, prices: Prices,
            chunk: int, overhead_s: float, predictor: Predictor,
            on_evaluation=lambda: None) -> list[Joint]:  # fmt: skip
    """The `n` best feasible joint configurations by `objective`, evaluated again by
    `predictor` (the simulation: MVA screens, the simulation decides)."""
    out = []
    for j in ranked(results, objective)[:n]:
        out.append(evaluate_joint(j.picks, j.max_batch, j.window_s, cost, prices, chunk,
                                  overhead_s, predictor))  # fmt: skip
        on_evaluation()
    return out


def best(results: list[Joint], objective: str) -> Joint:
    """The feasible joint configuration best by `objective` (ties: the other objectives)."""
    feasible = ranked(results, objective)
    if not feasible:
        raise ConfigspecError(infeasible_message(results))
    return feasible[0]


def infeasible_message(results: list[Joint]) -> str:
    """One line: which group's latency target nothing meets, and the best it could get."""
    parts = []
    for i, c in enumerate(results[0].picks):
        if c.itl_target_s is None:
            continue
        closest = min(results, key=lambda j: j.excess_s[i])
        if closest.excess_s[i] > 0:
            p = closest.prediction.groups[i]
            parts.append(f"group {c.group}'s {1e3 * c.itl_target_s:g} ms (best achievable "
                         f"{1e3 * p.itl_s:.0f} ms, with {closest.picks[i].label})")  # fmt: skip
    what = ", ".join(parts) or "every group's target at once (each alone can be met)"
    return f"no joint configuration meets the inter-token latency target {what}; relax it"


def alone(candidate: Candidate, cost: BatchCost, chunk: int, overhead_s: float) -> float:
    """The candidate's mean inter-token latency with its device alone on the server."""
    one = replace(candidate.load, count=1)
    return predict_mva([one], cost, ServerTerms(1, 0.0, chunk, overhead_s)).groups[0].itl_s
