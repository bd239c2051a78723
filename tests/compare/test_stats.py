"""The gate's rule: a drop fails only when larger than the tolerance AND significant (Welch)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from configspec.compare.stats import (
    bootstrap_ratio_ci,
    speed_test,
    speed_verdict,
    welch_one_sided,
)  # fmt: skip


def _samples(mean: float, cv: float, n: int, seed: int) -> list[float]:
    return list(mean * (1 + cv * np.random.default_rng(seed).standard_normal(n)))


def test_welch_matches_the_textbook_formula():
    cur, base = [9.0, 10.0, 11.5, 10.2], [12.0, 12.5, 11.0, 13.1, 12.2]
    m1, m2 = np.mean(cur), np.mean(base)
    v1, v2 = np.var(cur, ddof=1) / len(cur), np.var(base, ddof=1) / len(base)
    t = (m1 - m2) / math.sqrt(v1 + v2)
    # Welch-Satterthwaite degrees of freedom
    df = (v1 + v2) ** 2 / (v1**2 / (len(cur) - 1) + v2**2 / (len(base) - 1))
    less, greater = welch_one_sided(cur, base)
    assert less == pytest.approx(sps.t.cdf(t, df), rel=1e-9)
    assert greater == pytest.approx(sps.t.sf(t, df), rel=1e-9)


def test_identical_samples_pass():
    base = _samples(30, 0.05, 5, 1)
    test = speed_test(base, list(base), "higher_is_better")
    assert test.ratio == pytest.approx(1.0)
    assert speed_verdict(test, 0.10, 0.05) == "pass"


def test_a_large_significant_drop_is_a_regression():
    base, cur = _samples(30, 0.03, 5, 1), _samples(21, 0.03, 5, 2)  # -30 %
    test = speed_test(base, cur, "higher_is_better")
    assert test.ratio == pytest.approx(np.mean(cur) / np.mean(base))
    assert test.p_slower < 1e-4
    assert speed_verdict(test, 0.10, 0.05) == "regression"


def test_a_large_drop_lost_in_noise_passes():
    base, cur = [30.0, 10.0, 50.0], [5.0, 45.0, 20.0]  # means 30 vs 23.3: -22 %, huge spread
    test = speed_test(base, cur, "higher_is_better")
    assert test.ratio < 0.9 and test.p_slower > 0.05
    assert speed_verdict(test, 0.10, 0.05) == "pass"


def test_a_significant_drop_within_the_tolerance_passes():
    base, cur = _samples(30, 0.002, 10, 1), _samples(28.5, 0.002, 10, 2)  # -5 %, very clean
    test = speed_test(base, cur, "higher_is_better")
    assert test.p_slower < 1e-6
    assert speed_verdict(test, 0.10, 0.05) == "pass"
    assert speed_verdict(test, 0.02, 0.05) == "regression"


def test_latency_reads_the_other_way_round():
    base = _samples(0.10, 0.02, 5, 1)
    slower = speed_test(base, _samples(0.13, 0.02, 5, 2), "lower_is_better")
    assert slower.ratio == pytest.approx(0.10 / 0.13, rel=0.03)
    assert speed_verdict(slower, 0.10, 0.05) == "regression"
    faster = speed_test(base, _samples(0.07, 0.02, 5, 3), "lower_is_better")
    assert speed_verdict(faster, 0.10, 0.05) == "improved"


def test_no_noise_at_all_decides_on_the_means():
    assert welch_one_sided([5.0, 5.0], [5.0, 5.0]) == (1.0, 1.0)
    assert welch_one_sided([4.0, 4.0], [5.0, 5.0]) == (0.0, 1.0)
    assert speed_verdict(speed_test([5.0, 5.0], [4.0, 4.0], "higher_is_better"), 0.1, 0.05) == (
        "regression"
    )


def test_bootstrap_interval_is_deterministic_and_covers_the_ratio():
    base, cur = _samples(30, 0.05, 5, 1), _samples(27, 0.05, 5, 2)
    low, high = bootstrap_ratio_ci(cur, base, "higher_is_better")
    assert (low, high) == bootstrap_ratio_ci(cur, base, "higher_is_better")
    assert low < np.mean(cur) / np.mean(base) < high
