"""Exact enumeration: evaluate every configuration of a device (the ground truth), apply the
constraints, keep the Pareto front and the per-objective and balanced picks."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from configspec.analytic.evaluate import Metrics, evaluate
from configspec.errors import ConfigspecError
from configspec.search.pareto import knee_index, pareto_mask
from configspec.search.space import SPECULATIVE, Space

OBJECTIVES = ("goodput", "cost", "energy")


@dataclass(frozen=True)
class Limits:
    min_goodput_tok_s: float | None = None
    max_joules_per_token: float | None = None
    max_usd_per_1m_tokens: float | None = None


@dataclass
class DeviceResult:
    space: Space
    method: str
    rows: np.ndarray  # space indices that were evaluated
    metrics: Metrics  # aligned with rows
    feasible: np.ndarray  # positions into rows meeting the limits
    front: np.ndarray  # positions into rows: the feasible Pareto front
    picks: dict[str, int]  # objective -> position into rows
    # objective -> the best feasible row that speculates, when some pick does not (what it beat)
    speculative_picks: dict[str, int] = field(default_factory=dict)

    def index(self, position: int) -> int:
        return int(self.rows[position])


def feasible_mask(metrics: Metrics, limits: Limits) -> np.ndarray:
    ok = np.ones(len(metrics.goodput_tok_s), bool)
    if limits.min_goodput_tok_s is not None:
        ok &= metrics.goodput_tok_s >= limits.min_goodput_tok_s
    if limits.max_joules_per_token is not None:
        ok &= metrics.joules_per_token <= limits.max_joules_per_token
    if limits.max_usd_per_1m_tokens is not None:
        ok &= metrics.usd_per_1m_tokens <= limits.max_usd_per_1m_tokens
    return ok


def infeasible_message(device: str, metrics: Metrics, limits: Limits) -> str:
    """One line: which limits nothing meets, with the best value the space offers for each."""
    parts = []
    if limits.min_goodput_tok_s is not None:
        best = metrics.goodput_tok_s.max()
        if best < limits.min_goodput_tok_s:
            parts.append(f"--min-goodput {limits.min_goodput_tok_s:g} tok/s (best {best:.3g})")
    if limits.max_joules_per_token is not None:
        best = metrics.joules_per_token.min()
        if best > limits.max_joules_per_token:
            parts.append(
                f"--max-joules-per-token {limits.max_joules_per_token:g} (best {best:.3g})"
            )
    if limits.max_usd_per_1m_tokens is not None:
        best = metrics.usd_per_1m_tokens.min()
        if best > limits.max_usd_per_1m_tokens:
            parts.append(f"--max-cost {limits.max_usd_per_1m_tokens:g} $/1M (best {best:.3g})")
    what = ", ".join(parts) if parts else "the constraints together (each alone can be met)"
    return f"no configuration on {device} meets {what}; relax the constraint(s)"


def best_positions(objectives: np.ndarray, candidates: np.ndarray) -> dict[str, int]:
    """Best by each objective among `candidates` (positions), ties broken by the others in order."""
    picks = {}
    f = objectives[candidates]
    for j, name in enumerate(OBJECTIVES):
        keys = [f[:, (j + 2) % 3], f[:, (j + 1) % 3], f[:, j]]  # lexsort: last key is primary
        picks[name] = int(candidates[np.lexsort(keys)[0]])
    return picks


def summarise(space: Space, rows: np.ndarray, metrics: Metrics, limits: Limits,
              weights: np.ndarray, method: str) -> DeviceResult:  # fmt: skip
    ok = feasible_mask(metrics, limits)
    if not ok.any():
        raise ConfigspecError(infeasible_message(space.device, metrics, limits))
    feasible = np.flatnonzero(ok)
    objectives = metrics.objectives()
    front = feasible[pareto_mask(objectives[feasible])]
    picks = _picks(objectives, feasible, front, weights)
    speculating = space.runs[rows] == SPECULATIVE
    feasible_spec = feasible[speculating[feasible]]
    alternatives = {}
    if len(feasible_spec) and not speculating[list(picks.values())].all():
        # a pick without speculation: what the best speculative configurations would have given
        front_spec = feasible_spec[pareto_mask(objectives[feasible_spec])]
        alternatives = _picks(objectives, feasible_spec, front_spec, weights)
    return DeviceResult(space, method, rows, metrics, feasible, front, picks, alternatives)


def _picks(objectives: np.ndarray, feasible: np.ndarray, front: np.ndarray,
           weights: np.ndarray) -> dict[str, int]:  # fmt: skip
    picks = best_positions(objectives, feasible)
    picks["balanced"] = int(front[knee_index(objectives[front], weights)])
    return picks


def enumerate_device(space: Space, limits: Limits, weights: np.ndarray) -> DeviceResult:
    rows = np.arange(len(space))
    return summarise(space, rows, evaluate(space.inputs, space.terms), limits, weights, "exact")
