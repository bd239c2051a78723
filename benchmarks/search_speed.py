"""How fast is the search, and how close does Optuna get to the exact front?

1. Exact enumeration over the demo space: the real demo-pair profiles under results/ when they
   exist (newest drafting, alignment, verification), else a space of the demo's shape (1 device
   x 1 draft x 4 quants x (16 K + tau grid)) with SYNTHETIC inputs, said so in the output.
   Target: well under 1 s.
2. A generated large space, SYNTHETIC inputs (50 devices x 6 drafts x 4 quants x 16 K x 10 tau,
   tau "off" = fixed K plus 9 thresholds; 3840 configurations per device, 192,000 in all):
   exact enumeration per device vs Optuna NSGA-II with a budget of 10% of each device's
   configurations evaluated (distinct configurations: a trial that suggests one already evaluated
   reuses its metrics, as `configspec recommend --method optuna` does; trials are capped at 5x
   the budget). Target: >= 98% of the exact front's hypervolume.

Hypervolume: per device, the three objectives as minimisation (-goodput, $/1M tokens, J/token)
are normalised with the exact space's own minimum and maximum per objective (0 = best
configuration in the space, 1 = worst), the reference point is (1.1, 1.1, 1.1), and the volume
is computed exactly (configspec.search.pareto.hypervolume, checked against Optuna's in tests).
Ratio = HV(front Optuna found) / HV(exact front).

    python benchmarks/search_speed.py [--devices 50] [--fraction 0.1] [--sampler nsga2|tpe]
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
import time
from pathlib import Path

import numpy as np

from configspec.analytic.evaluate import DeviceTerms, RoundInputs
from configspec.profiles.policy import Policy
from configspec.search.engines import CONFIGSPEC
from configspec.search.exact import Limits, enumerate_device
from configspec.search.pareto import hypervolume, normalise
from configspec.search.space import SPECULATIVE, Space, object_array

DRAFT_SIZES_B = [0.1, 0.3, 0.5, 1.0, 1.5, 3.0]  # synthetic draft sizes, billions of parameters
QUANTS = {
    "F16": (1.0, 0.0, 1.0),
    "Q8_0": (0.7, 0.005, 0.95),
    "Q4_K_M": (0.5, 0.02, 0.9),
    "Q2_K": (0.4, 0.08, 0.85),
}  # (step factor, acceptance loss, power factor), synthetic
TAUS = [None, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
WEIGHTS = np.ones(3)


def synthetic_space(device: int, rng: np.random.Generator, k_max: int = 16,
                    quants: dict = QUANTS, drafts: list[float] = DRAFT_SIZES_B) -> Space:  # fmt: skip
    """SYNTHETIC inputs: plausible shapes (bigger drafts slower and better aligned, lower quants
    faster and worse aligned, thresholds draft fewer tokens at higher acceptance), not data."""
    speed = rng.uniform(0.3, 3.0)  # device slowness multiplier
    watts = rng.uniform(3.0, 60.0)
    rows = []
    for size in drafts:
        a_base = min(0.92, 0.55 + 0.1 * math.log2(size / 0.1))
        for quant, (step_f, loss, power_f) in quants.items():
            a = a_base - loss
            step = 0.004 * size * step_f * speed + 0.002
            for k in range(1, k_max + 1):
                for tau in TAUS:
                    if tau is None:
                        d, acc, extra = float(k), sum(a**j for j in range(1, k + 1)), a**k
                    else:
                        h = min(0.9, 2.0 * (1 - a) * tau**1.5)  # stop chance per position
                        a_t = a + (1 - a) * tau * 0.6  # acceptance of what is kept
                        d = sum((1 - h) ** j for j in range(1, k + 1))
                        acc = sum(((1 - h) * a_t) ** j for j in range(1, k + 1))
                        extra = 1.0
                    rows.append((f"draft-{size}B", quant, Policy(k_max=k, tau=tau), d, extra,
                                 acc + 1, step, watts * power_f * (0.5 + size / 6)))  # fmt: skip
    col = list(zip(*rows, strict=True))
    drafted = np.array(col[3], float)
    verify_s = 0.025 + 0.0015 * (drafted + 1)  # a GPU-like server: nearly flat in K
    terms = DeviceTerms(
        mode="greedy", rtt_s=rng.uniform(0.005, 0.08), up_bit_s=rng.uniform(5, 100) * 1e6,
        down_bit_s=100e6, idle_w=watts * rng.uniform(0.2, 0.4), overhead_s=0.0, batch=1,
        server_usd_per_hour=2.0, purchase_usd=rng.uniform(80, 2000), lifetime_h=26280.0,
        utilisation=0.25, usd_per_kwh=0.165, token_id_bytes=4, prob_bytes=2,
        vocab_size=151936, top_n=None, header_bytes=40,
    )  # fmt: skip
    n = len(rows)
    return Space(
        device=f"synthetic-{device}", target="synthetic-target", target_quant="BF16",
        engine=CONFIGSPEC, draft=object_array(col[0]), quant=object_array(col[1]),
        policy=object_array(col[2]), runs=object_array([SPECULATIVE] * n),
        file=object_array(["synthetic.gguf"] * n),
        draft_power_source=object_array(["estimated:synthetic"] * n),
        energy_source=object_array(["estimated: synthetic"] * n),
        inputs=RoundInputs(
            drafted=drafted, extra_steps=np.array(col[4], float), tokens=np.array(col[5], float),
            step_s=np.array(col[6], float), draft_w=np.array(col[7], float), verify_s=verify_s,
            verify_j=300.0 * verify_s,
        ),
        terms=terms,
    )  # fmt: skip


def demo_space() -> tuple[list[Space], str]:
    """The real demo-pair spaces when profiles exist under results/, else a synthetic stand-in."""
    from configspec.analytic.scenario import load_scenario
    from configspec.errors import ConfigspecError
    from configspec.recommend.discover import find_inputs
    from configspec.search.space import build_spaces

    try:
        inputs = find_inputs(Path("results"))
        spaces, _ = build_spaces([p for _, p in inputs.drafting], inputs.alignment[1],
                                 inputs.verification[1], load_scenario(None))  # fmt: skip
        return spaces, f"REAL demo profiles ({inputs.alignment[0]}, {inputs.verification[0]})"
    except ConfigspecError as exc:
        rng = np.random.default_rng(0)
        space = synthetic_space(0, rng, drafts=[0.5])
        keep = [p.tau is None or p.k_max == 16 for p in space.policy]  # thresholds at K_max
        space = _subset(space, np.flatnonzero(keep))
        return [space], f"SYNTHETIC stand-in of the demo's shape (no real profiles: {exc})"


def _subset(space: Space, index: np.ndarray) -> Space:
    fields = {k: v[index] for k, v in vars(space).items() if isinstance(v, np.ndarray)}
    fields["policy"] = object_array(list(space.policy[index]))
    return Space(**{**vars(space), **fields, "inputs": space.inputs.take(index)})


def time_exact(spaces: list[Space], repeats: int = 20) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for space in spaces:
            enumerate_device(space, Limits(), WEIGHTS)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def hv_ratio(space: Space, exact, found, scale: str = "space") -> float:
    """`space`: normalise by the whole space's best/worst; `front`: by the exact front's own
    ideal and nadir point (stricter: the bad corners of the space no longer pad the volume)."""
    f_all = exact.metrics.objectives()
    scaled = f_all if scale == "space" else f_all[exact.front]
    low, high = scaled.min(axis=0), scaled.max(axis=0)
    ref = np.full(3, 1.1)
    exact_hv = hypervolume(normalise(f_all[exact.front], low, high), ref)
    found_f = found.metrics.objectives()[found.front]
    return hypervolume(normalise(found_f, low, high), ref) / exact_hv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument(
        "--fraction",
        type=float,
        default=0.10,
        help="budget: distinct configurations evaluated / space size",
    )
    parser.add_argument("--trials-per-evaluation", type=int, default=5,
                        help="trial cap per budgeted evaluation; > 1 lets Optuna run on past "
                             "repeated suggestions (they cost no evaluation) until the budget of "
                             "distinct evaluations is spent")  # fmt: skip
    parser.add_argument("--sampler", choices=["nsga2", "tpe"], default="nsga2")
    parser.add_argument("--population", type=int, default=50, help="NSGA-II population")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    spaces, what = demo_space()
    demo_s = time_exact(spaces)
    sizes = sum(len(s) for s in spaces)
    print(f"demo space: {what}")
    print(f"  {sizes} configurations on {len(spaces)} device(s): exact enumeration "
          f"{demo_s * 1e3:.2f} ms (median of 20){'' if demo_s < 1 else '  [ABOVE 1 s]'}")  # fmt: skip

    from configspec.search import optuna_search

    rng = np.random.default_rng(args.seed)
    big = [synthetic_space(d, rng) for d in range(args.devices)]
    total = sum(len(s) for s in big)
    print(f"large SYNTHETIC space: {args.devices} devices x {len(DRAFT_SIZES_B)} drafts x "
          f"{len(QUANTS)} quants x 16 K x {len(TAUS)} tau = {total} configurations")  # fmt: skip
    start = time.perf_counter()
    exact = [enumerate_device(s, Limits(), WEIGHTS) for s in big]
    exact_s = time.perf_counter() - start
    print(f"  exact enumeration, all devices: {exact_s:.2f} s "
          f"({exact_s / args.devices * 1e3:.0f} ms per device)")  # fmt: skip

    ratios, strict, trials_used, evaluations_used, fronts = [], [], 0, 0, []
    start = time.perf_counter()
    for i, (space, truth) in enumerate(zip(big, exact, strict=True)):
        budget = math.ceil(args.fraction * len(space))
        found = optuna_search.search_device(space, Limits(), WEIGHTS, budget * args.trials_per_evaluation,
                                            storage="memory", seed=args.seed + i,
                                            sampler_name=args.sampler, population_size=args.population,
                                            max_evaluations=budget)  # fmt: skip
        trials_used += int(re.search(r"(\d+) trials", found.method).group(1))
        evaluations_used += len(found.rows)
        ratios.append(hv_ratio(space, truth, found))
        strict.append(hv_ratio(space, truth, found, scale="front"))
        fronts.append((len(truth.front), len(found.front)))
    optuna_s = time.perf_counter() - start
    print(f"  optuna {args.sampler}: {trials_used} trials, {evaluations_used} distinct configurations "
          f"evaluated = {evaluations_used / total:.1%} of the space, {optuna_s:.1f} s")  # fmt: skip
    print(f"  hypervolume ratio optuna/exact: mean {np.mean(ratios):.2%}, median "
          f"{np.median(ratios):.2%}, min {np.min(ratios):.2%}; devices >= 98%: "
          f"{sum(r >= 0.98 for r in ratios)}/{len(ratios)}")  # fmt: skip
    print(f"  stricter, normalised to the exact front's ideal..nadir: mean {np.mean(strict):.2%}, "
          f"min {np.min(strict):.2%}; devices >= 98%: {sum(r >= 0.98 for r in strict)}/"
          f"{len(strict)}")  # fmt: skip
    print(f"  exact front size per device: mean {np.mean([f[0] for f in fronts]):.1f}; "
          f"optuna front: mean {np.mean([f[1] for f in fronts]):.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
