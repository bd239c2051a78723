"""Compare two drafting profiles: decode and prefill throughput (and measured energy) per cell.

A cell is matched by (device, model file SHA-256, quantization, threads); inside it, decode points
by (context tokens, decoded tokens) and prefill by prompt length. The samples tested are the
per-repetition tokens/s (the repetition is the independent unit; steps within one are not).
"""

from __future__ import annotations

from functools import partial

from configspec.compare.common import (
    busy_note,
    cross_cpu_note,
    environment_notes,
    interrupted_notes,
    pair_up,
    speed_is_gated,
    speed_row,
    unmatched_row,
)  # fmt: skip
from configspec.compare.result import Comparison, Row, Thresholds
from configspec.profiles.drafting import DeviceProfile, DraftCell
from device_profilers.base import is_measured


def _cell_key(profile: DeviceProfile, cell: DraftCell) -> tuple:
    return (profile.environment.device, cell.file_sha256, cell.quant, profile.settings.threads)


def _label(profile: DeviceProfile, cell: DraftCell) -> str:
    return (f"{cell.draft} {cell.quant} on {profile.environment.device}, "
            f"{profile.settings.threads} threads")  # fmt: skip


def _cell_rows(
    label: str, base: DraftCell, cur: DraftCell, thresholds: Thresholds, gated: bool
) -> list[Row]:
    rows: list[Row] = []
    key = lambda d: (d.context_tokens, d.decode_tokens)  # noqa: E731
    for (context, tokens), b, c in pair_up(
        base.decode, cur.decode, key, f"decode points in {label}"
    ):
        where = f"{label}, context {context}, {tokens} tokens"
        if b is None or c is None:
            rows.append(unmatched_row(where, in_baseline=c is None))
            continue
        rows.append(speed_row(label, f"decode tok/s @ctx {context} ({tokens} tok)",
                              b.tokens_per_s.samples, c.tokens_per_s.samples, "higher_is_better",
                              thresholds, gated, note=busy_note(b.machine_load, c.machine_load)))  # fmt: skip
        if is_measured(b.power_source) and is_measured(c.power_source):
            note = "" if b.power_source == c.power_source else "different power meters"
            rows.append(speed_row(label, f"energy J/token @ctx {context}",
                                  b.energy_j_per_token.samples, c.energy_j_per_token.samples,
                                  "lower_is_better", thresholds, gated, note=note))  # fmt: skip
    if base.prefill.prompt_tokens == cur.prefill.prompt_tokens:
        rows.append(speed_row(label, f"prefill tok/s ({base.prefill.prompt_tokens}-token prompt)",
                              base.prefill.tokens_per_s.samples, cur.prefill.tokens_per_s.samples,
                              "higher_is_better", thresholds, gated,
                              note=busy_note(base.prefill.machine_load, cur.prefill.machine_load)))  # fmt: skip
    else:
        rows.append(unmatched_row(f"{label}, prefill {base.prefill.prompt_tokens} tokens", True))
        rows.append(unmatched_row(f"{label}, prefill {cur.prefill.prompt_tokens} tokens", False))
    return rows


def compare_drafting(
    baseline: DeviceProfile, current: DeviceProfile, thresholds: Thresholds,
    baseline_path: str = "BASELINE", current_path: str = "CURRENT",
) -> Comparison:  # fmt: skip
    result = Comparison("drafting", baseline_path, current_path, thresholds)
    estimated = False
    gated = speed_is_gated(baseline.environment, current.environment)
    for _, b, c in pair_up(baseline.cells, current.cells, partial(_cell_key, baseline), "cells",
                           partial(_cell_key, current)):  # fmt: skip
        if b is None or c is None:
            profile, cell = (baseline, b) if c is None else (current, c)
            result.rows.append(unmatched_row(_label(profile, cell), in_baseline=c is None))
            continue
        result.rows += _cell_rows(_label(baseline, b), b, c, thresholds, gated)
        estimated |= not all(is_measured(d.power_source) for d in b.decode + c.decode)
    if estimated:
        result.notes.append("energy not compared where power is estimated (it follows from time)")
    result.notes += cross_cpu_note(baseline.environment, current.environment)
    result.notes += environment_notes(baseline.environment, current.environment)
    result.notes += interrupted_notes(baseline.interrupted, current.interrupted)
    return result
