"""Summaries that keep their raw samples: mean, std and a Student-t 95% confidence interval."""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel
from scipy import stats


class Summary(BaseModel):
    n: int
    mean: float
    std: float  # sample standard deviation (ddof=1); 0 for n = 1
    ci95_low: float
    ci95_high: float
    min: float
    max: float
    samples: list[float]

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        values = [float(v) for v in values]
        n = len(values)
        if n == 0:
            raise ValueError("cannot summarise zero samples")
        mean = math.fsum(values) / n
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
        # t interval for the mean: mean +- t_{0.975, n-1} * std / sqrt(n)
        half = float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n) if n > 1 else 0.0
        return cls(
            n=n, mean=mean, std=std, ci95_low=mean - half, ci95_high=mean + half,
            min=min(values), max=max(values), samples=values,
        )  # fmt: skip
