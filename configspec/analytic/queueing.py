"""Closed-loop queueing: exact mean value analysis with one load-dependent server (pure).

The network: C classes of customers (device groups), class c with N_c customers. A customer
spends Z_c at its own device (a delay station: drafting, network, think) and then visits the
server, whose service rate depends on how many rounds are there (batching: j rounds present are
verified min(j, B) at a time). With a processor-sharing, load-dependent server of rate
alpha(j) / s_c for class c (BCMP product form), the exact recursion over populations n is
(Reiser & Lavenberg 1980, mean value analysis, load-dependent stations):

    R_c(n)  = s_c * sum_{j=1..|n|} j / alpha(j) * p(j - 1 | n - e_c)
    X_c(n)  = n_c / (Z_c + R_c(n))
    p(j | n) = 1 / alpha(j) * sum_c s_c * X_c(n) * p(j - 1 | n - e_c),   j >= 1
    p(0 | n) = 1 - sum_{j>=1} p(j | n)

with p(0 | 0) = 1. `extra_s` adds a delay to every visit weighted by the probability that the
arrival finds the server idle, p(0 | n - e_c) (the arrival theorem), used for the batching window.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from configspec.errors import ConfigspecError

MAX_STATES = 1_000_000  # population vectors; beyond it the recursion is too slow in Python


@dataclass(frozen=True)
class MvaResult:
    throughput: np.ndarray  # X_c: visits per second of the whole class
    response_s: np.ndarray  # R_c: time per visit at the server (queue + service)
    stretch: np.ndarray  # sum_j j / alpha(j) p(j - 1 | N - e_c): residence per second of demand
    idle_on_arrival: np.ndarray  # p(0 | N - e_c): an arrival finds the server idle
    queue_length: float  # mean rounds at the server
    idle: float  # p(0 | N): the server is idle


def mva_load_dependent(
    population: Sequence[int], think_s: Sequence[float], demand_s: Sequence[float],
    alpha: Callable[[int], float], extra_s: float = 0.0,
) -> MvaResult:  # fmt: skip
    """Exact MVA (Reiser & Lavenberg 1980) for delay stations + one load-dependent server."""
    population = tuple(int(n) for n in population)
    c = len(population)
    z = np.asarray(think_s, float)
    s = np.asarray(demand_s, float)
    states = int(np.prod([n + 1 for n in population]))
    if states > MAX_STATES:
        raise ConfigspecError(f"{states} population states are too many for exact MVA: merge "
                              "device groups, or predict with the simulation "
                              "(configspec/fleet/predict.py, method simulation)")  # fmt: skip
    total = sum(population)
    rates = np.array([alpha(j) for j in range(1, total + 1)], float)  # alpha(1..total)
    if (rates <= 0).any():
        raise ValueError("alpha(j) must be positive")
    weights = np.arange(1, total + 1) / rates  # j / alpha(j)
    x, r, stretch, idle_on_arrival = np.zeros(c), np.zeros(c), np.zeros(c), np.zeros(c)
    layers: dict[int, list[tuple[int, ...]]] = {}
    for n in itertools.product(*[range(m + 1) for m in population]):
        layers.setdefault(sum(n), []).append(n)
    # p(. | n) for the populations one customer smaller than the layer being computed
    probs: dict[tuple[int, ...], np.ndarray] = {(0,) * c: np.array([1.0])}
    for size in range(1, total + 1):
        current = {}
        for n in layers[size]:
            p = np.zeros(size + 1)
            for k in range(c):
                if n[k] == 0:
                    continue
                prev = probs[n[:k] + (n[k] - 1,) + n[k + 1 :]]  # p(. | n - e_k)
                idle_wait = extra_s * prev[0] if size > 1 else 0.0
                stretch_k = float(weights[:size] @ prev)
                r_k = s[k] * stretch_k + idle_wait
                x_k = n[k] / (z[k] + r_k)
                p[1:] += s[k] * x_k * prev
                if n == population:
                    x[k], r[k], stretch[k], idle_on_arrival[k] = x_k, r_k, stretch_k, prev[0]
            p[1:] /= rates[:size]
            p[0] = max(0.0, 1.0 - p[1:].sum())
            current[n] = p
        probs = current
    final = probs[population] if total else np.array([1.0])
    return MvaResult(x, r, stretch, idle_on_arrival, float(np.arange(len(final)) @ final),
                     float(final[0]))  # fmt: skip
