"""Compare two alignment summaries: how many tokens each drafting policy yields per round.

Cells are matched by (draft file SHA-256, quantization, target file SHA-256, target quantization,
mode, temperature) and the run's settings (prompt file, prompts, new tokens; seed when sampled).
The device is not part of the key: acceptance is a property of the model pair.

Two rules:
- exact: greedy on both sides, same model files (the key) and the same backend, backend version,
  CPU model, architecture and threads. Greedy decoding is then deterministic, so every figure
  must be identical; any change, up or down, fails (a changed kernel or tokenizer shows up here).
- tolerance: otherwise (sampled, or another backend or machine, whose float rounding can flip
  near-ties of the argmax): tokens per round of each policy may drop by at most
  `acceptance_tolerance` (relative).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from configspec.compare.common import (
    environment_notes,
    interrupted_notes,
    pair_up,
    unmatched_row,
)  # fmt: skip
from configspec.compare.result import Comparison, Row, Thresholds
from configspec.profiles.alignment import AlignmentCell, AlignmentProfile, PolicyStats
from configspec.profiles.policy import Policy

# Where greedy results can differ legitimately: another backend build or other float kernels.
EXACT_ENVIRONMENT = ("backend", "backend_version", "cpu_model", "machine", "threads")


def _settings_key(profile: AlignmentProfile, cell: AlignmentCell) -> tuple:
    s = profile.settings
    seed = s.seed if cell.mode == "sampled" else None  # greedy ignores the seed
    return (Path(s.prompts_file).name, s.n_prompts, s.new_tokens, seed)


def _cell_key(profile: AlignmentProfile, cell: AlignmentCell) -> tuple:
    return (cell.draft_sha256, cell.quant, cell.target_sha256, cell.target_quant, cell.mode,
            cell.temperature, *_settings_key(profile, cell))  # fmt: skip


def _label(cell: AlignmentCell) -> str:
    mode = "greedy" if cell.mode == "greedy" else f"sampled T={cell.temperature:g}"
    return f"{cell.draft} {cell.quant} -> {cell.target} {cell.target_quant}, {mode}"


def _policies(cell: AlignmentCell) -> dict[Policy, PolicyStats]:
    return {p.policy: p for p in [*cell.fixed_k, *cell.threshold]}


def figures(cell: AlignmentCell) -> dict[str, float]:
    """Every number of a cell by name: what the exact rule compares."""
    out: dict[str, float] = {
        "acceptance_rate": cell.acceptance_rate,
        "n_prompts": cell.n_prompts,
        "n_positions": cell.n_positions,
    }
    out |= {f"acceptance@{i + 1}": a for i, a in enumerate(cell.acceptance_by_position)}
    out |= {f"iid_tokens_per_round K={i + 1}": v for i, v in enumerate(cell.iid_tokens_per_round)}
    out |= {f"top{k}_coverage": v for k, v in cell.topk_coverage.items()}
    for p in _policies(cell).values():
        for name in ("drafted_per_round", "accepted_per_round", "tokens_per_round", "rounds"):
            out[f"{name} {p.policy.label}"] = getattr(p, name)
    return out


def exact_rule_applies(baseline: AlignmentProfile, current: AlignmentProfile,
                       cell: AlignmentCell) -> bool:  # fmt: skip
    same_env = all(getattr(baseline.environment, f) == getattr(current.environment, f)
                   for f in EXACT_ENVIRONMENT)  # fmt: skip
    return cell.mode == "greedy" and same_env


def _exact_rows(label: str, base: AlignmentCell, cur: AlignmentCell) -> list[Row]:
    rows = []
    for key, b in _policies(base).items():
        c = _policies(cur).get(key)
        if c is None:
            continue
        same = b.tokens_per_round == c.tokens_per_round
        rows.append(Row(
            cell=label, metric=f"tokens/round {b.policy.label}",
            status="pass" if same else "regression", baseline=b.tokens_per_round,
            current=c.tokens_per_round, ratio=c.tokens_per_round / b.tokens_per_round,
            rule="exact", note="" if same else "greedy, same models and backend: must not change",
        ))  # fmt: skip
    base_figures, cur_figures = figures(base), figures(cur)
    common = [name for name in base_figures if name in cur_figures]
    changed = [name for name in common if base_figures[name] != cur_figures[name]]
    first = changed[0] if changed else None
    rows.append(Row(
        cell=label, metric=f"all {len(common)} figures identical",
        status="regression" if changed else "pass",
        baseline=base_figures[first] if first else None,
        current=cur_figures[first] if first else None, rule="exact",
        note=(f"{len(changed)} changed, first {first}" if changed else ""),
    ))  # fmt: skip
    return rows


def _tolerance_rows(label: str, base: AlignmentCell, cur: AlignmentCell,
                    thresholds: Thresholds) -> list[Row]:  # fmt: skip
    tol = thresholds.acceptance_tolerance
    rows = [Row(cell=label, metric="acceptance rate", status="info",
                baseline=base.acceptance_rate, current=cur.acceptance_rate,
                ratio=cur.acceptance_rate / base.acceptance_rate if base.acceptance_rate else None,
                rule="not gated")]  # fmt: skip
    for key, b in _policies(base).items():
        c = _policies(cur).get(key)
        if c is None:
            continue
        ratio = c.tokens_per_round / b.tokens_per_round
        status = "regression" if ratio < 1 - tol else "improved" if ratio > 1 + tol else "pass"
        rows.append(Row(cell=label, metric=f"tokens/round {b.policy.label}", status=status,
                        baseline=b.tokens_per_round, current=c.tokens_per_round, ratio=ratio,
                        rule="tolerance"))  # fmt: skip
    return rows


def compare_alignment(
    baseline: AlignmentProfile, current: AlignmentProfile, thresholds: Thresholds,
    baseline_path: str = "BASELINE", current_path: str = "CURRENT",
) -> Comparison:  # fmt: skip
    result = Comparison("alignment", baseline_path, current_path, thresholds)
    for _, b, c in pair_up(baseline.cells, current.cells, partial(_cell_key, baseline), "cells",
                           partial(_cell_key, current)):  # fmt: skip
        if b is None or c is None:
            result.rows.append(unmatched_row(_label(b or c), in_baseline=c is None))
            continue
        label = _label(b)
        if set(_policies(b)) != set(_policies(c)):
            result.notes.append(f"{label}: policies differ; compared the ones in both")
        if exact_rule_applies(baseline, current, b):
            result.rows += _exact_rows(label, b, c)
        else:
            result.rows += _tolerance_rows(label, b, c, thresholds)
    result.notes += environment_notes(baseline.environment, current.environment)
    result.notes += interrupted_notes(baseline.interrupted, current.interrupted)
    return result
