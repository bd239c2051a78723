"""The statistics behind the gate: Welch's t-test on raw samples plus a relative tolerance.

A speed metric regresses only when BOTH hold:
  1. the drop is larger than the tolerance: speed ratio (current / baseline, ratio of means)
     < 1 - tolerance, and
  2. the drop is statistically significant: one-sided Welch t-test p-value < alpha.
Noise alone rarely passes (2) and a shift smaller than the tolerance (load on a shared CI machine)
cannot pass (1); a real, large drop passes both. Welch (1947), "The generalization of Student's
problem when several different population variances are involved", Biometrika 34.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

Direction = Literal["higher_is_better", "lower_is_better"]
SpeedStatus = Literal["pass", "regression", "improved"]

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0  # fixed: the same two files always give the same interval


@dataclass(frozen=True)
class SpeedTest:
    """Current against baseline for one metric; `ratio` is in speed terms (> 1 = faster)."""

    baseline_mean: float
    current_mean: float
    ratio: float  # current speed / baseline speed (for a latency: baseline mean / current mean)
    ratio_ci95: tuple[float, float]  # bootstrap percentile interval of `ratio`
    p_slower: float  # one-sided Welch p-value for "current is slower"
    p_faster: float  # one-sided Welch p-value for "current is faster"
    n_baseline: int
    n_current: int


def welch_one_sided(current: Sequence[float], baseline: Sequence[float]) -> tuple[float, float]:
    """(p for mean(current) < mean(baseline), p for mean(current) > mean(baseline))."""
    cur = np.asarray(current, dtype=float)
    base = np.asarray(baseline, dtype=float)
    if len(cur) < 2 or len(base) < 2:
        return 1.0, 1.0  # no variance estimate: no evidence either way
    if cur.var(ddof=1) == 0 and base.var(ddof=1) == 0:
        # Welch's statistic is undefined; with no noise at all any difference is certain.
        diff = cur.mean() - base.mean()
        return (0.0 if diff < 0 else 1.0), (0.0 if diff > 0 else 1.0)
    less = stats.ttest_ind(cur, base, equal_var=False, alternative="less").pvalue
    greater = stats.ttest_ind(cur, base, equal_var=False, alternative="greater").pvalue
    return float(less), float(greater)


def _speed_ratio(cur_mean: np.ndarray, base_mean: np.ndarray, direction: Direction) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        if direction == "higher_is_better":
            return cur_mean / base_mean
        return base_mean / cur_mean


def bootstrap_ratio_ci(
    current: Sequence[float], baseline: Sequence[float], direction: Direction
) -> tuple[float, float]:
    """95% percentile bootstrap interval of the speed ratio, resampling each side independently."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    cur = np.asarray(current, dtype=float)
    base = np.asarray(baseline, dtype=float)
    cur_means = rng.choice(cur, size=(BOOTSTRAP_RESAMPLES, len(cur))).mean(axis=1)
    base_means = rng.choice(base, size=(BOOTSTRAP_RESAMPLES, len(base))).mean(axis=1)
    ratios = _speed_ratio(cur_means, base_means, direction)
    low, high = np.percentile(ratios, [2.5, 97.5])
    return float(low), float(high)


def speed_test(
    baseline: Sequence[float], current: Sequence[float], direction: Direction
) -> SpeedTest:
    """Compare raw samples of a throughput (higher is better) or a latency (lower is better)."""
    if not baseline or not current:
        raise ValueError("speed_test needs samples on both sides")
    base_mean = math.fsum(baseline) / len(baseline)
    cur_mean = math.fsum(current) / len(current)
    less, greater = welch_one_sided(current, baseline)
    # "slower" means lower throughput or higher latency
    p_slower, p_faster = (less, greater) if direction == "higher_is_better" else (greater, less)
    ratio = float(_speed_ratio(np.array(cur_mean), np.array(base_mean), direction))
    return SpeedTest(
        baseline_mean=base_mean, current_mean=cur_mean, ratio=ratio,
        ratio_ci95=bootstrap_ratio_ci(current, baseline, direction), p_slower=p_slower,
        p_faster=p_faster, n_baseline=len(baseline), n_current=len(current),
    )  # fmt: skip


def speed_verdict(test: SpeedTest, tolerance: float, alpha: float) -> SpeedStatus:
    """The gate's rule (module docstring): both larger than the tolerance and significant."""
    if test.ratio < 1.0 - tolerance and test.p_slower < alpha:
        return "regression"
    if test.ratio > 1.0 + tolerance and test.p_faster < alpha:
        return "improved"
    return "pass"
