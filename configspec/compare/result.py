"""What a comparison produces: one row per compared metric, plus notes; and the exit code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Status = Literal["pass", "regression", "improved", "info", "only_baseline", "only_current"]

EXIT_PASS = 0
EXIT_REGRESSION = 1
EXIT_INVALID = 2  # ConfigspecError's exit code: incompatible or unreadable input


@dataclass(frozen=True)
class Thresholds:
    tolerance: float = 0.10  # relative speed drop allowed for throughput / latency
    alpha: float = 0.05  # significance level of the one-sided Welch test
    acceptance_tolerance: float = 0.03  # relative drop in tokens per round allowed (not exact)


@dataclass(frozen=True)
class Row:
    cell: str  # the matched cell, human readable
    metric: str  # what was compared, with its unit
    status: Status
    baseline: float | None = None
    current: float | None = None
    ratio: float | None = None  # speed ratio (speed metrics) or current / baseline (others)
    ratio_ci95: tuple[float, float] | None = None
    p_value: float | None = None  # the one-sided p-value in the direction of the change
    rule: str = ""  # which rule decided: "welch+tolerance", "exact", "tolerance", ...
    note: str = ""


@dataclass
class Comparison:
    kind: str
    baseline_path: str
    current_path: str
    thresholds: Thresholds
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def count(self, status: Status) -> int:
        return sum(row.status == status for row in self.rows)

    @property
    def compared(self) -> int:
        return sum(row.status in ("pass", "regression", "improved") for row in self.rows)

    @property
    def matched(self) -> int:
        """Rows of a cell found on both sides (compared, or shown as info)."""
        return sum(row.status not in ("only_baseline", "only_current") for row in self.rows)

    @property
    def exit_code(self) -> int:
        return EXIT_REGRESSION if self.count("regression") else EXIT_PASS

    @property
    def verdict(self) -> str:
        return "regression" if self.exit_code else "pass"
