"""Show a comparison three ways: a terminal table, a Markdown summary (CI comments), JUnit XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from rich.table import Table

from configspec.atomic_io import write_text_atomic
from configspec.compare.result import Comparison, Row

STATUS_STYLE = {"pass": "green", "regression": "bold red", "improved": "cyan", "info": "dim",
                "only_baseline": "yellow", "only_current": "yellow"}  # fmt: skip
STATUS_MARK = {"pass": "✅ pass", "regression": "❌ regression", "improved": "🚀 improved",
               "info": "ℹ️ info", "only_baseline": "⚠️ only in baseline",
               "only_current": "➕ only in current"}  # fmt: skip


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"


def _change(row: Row) -> str:
    if row.ratio is None:
        return ""
    text = f"{(row.ratio - 1) * 100:+.1f}%"
    if row.ratio_ci95:
        low, high = row.ratio_ci95
        text += f" [{(low - 1) * 100:+.0f}, {(high - 1) * 100:+.0f}]"
    return text


def _p(row: Row) -> str:
    return "" if row.p_value is None else f"{row.p_value:.3g}"


def rule_text(result: Comparison) -> str:
    t = result.thresholds
    if result.kind == "alignment":
        return ("greedy with the same model files, backend and machine: every figure must match "
                f"exactly; otherwise tokens/round may drop by at most "
                f"{t.acceptance_tolerance:.0%}")  # fmt: skip
    return (f"a metric regresses when its speed drops by more than {t.tolerance:.0%} AND a "
            f"one-sided Welch t-test on the raw samples gives p < {t.alpha:g}")  # fmt: skip


def summary_line(result: Comparison) -> str:
    parts = [f"{result.compared} compared", f"{result.count('regression')} regressed",
             f"{result.count('improved')} improved"]  # fmt: skip
    if result.count("info"):
        parts.append(f"{result.count('info')} shown, not gated")
    only = result.count("only_baseline") + result.count("only_current")
    if only:
        parts.append(f"{only} unmatched")
    return f"{result.kind}: {result.verdict.upper()} ({', '.join(parts)})"


def terminal_table(result: Comparison) -> Table:
    table = Table(title=f"configspec compare ({result.kind})", caption=rule_text(result))
    for column in ("cell", "metric", "baseline", "current", "change [95% CI]", "p", "status"):
        table.add_column(
            column, justify="right" if column in ("baseline", "current", "p") else "left"
        )
    for row in result.rows:
        status = row.status.replace("_", " ") + (f" ({row.note})" if row.note else "")
        table.add_row(row.cell, row.metric, _number(row.baseline), _number(row.current),
                      _change(row), _p(row),
                      f"[{STATUS_STYLE[row.status]}]{status}[/]")  # fmt: skip
    return table


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(result: Comparison) -> str:
    head = "❌ regression" if result.exit_code else "✅ pass"
    lines = [
        f"## configspec compare — {result.kind}: {head}",
        "",
        f"`{result.baseline_path}` (baseline) vs `{result.current_path}` (current): "
        f"{summary_line(result)}.",
        "",
        f"Rule: {rule_text(result)}.",
        "",
        "| cell | metric | baseline | current | change [95% CI] | p | status |",
        "|---|---|---:|---:|---|---:|---|",
    ]
    # Regressions first: a CI comment is read from the top.
    order = {"regression": 0, "only_baseline": 1, "improved": 2, "only_current": 3}
    for row in sorted(result.rows, key=lambda r: order.get(r.status, 9)):
        status = STATUS_MARK[row.status] + (f" ({row.note})" if row.note else "")
        cells = [row.cell, row.metric, _number(row.baseline), _number(row.current),
                 _change(row), _p(row), status]  # fmt: skip
        lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    if result.notes:
        lines += ["", "Notes:", ""] + [f"- {_md_cell(note)}" for note in result.notes]
    return "\n".join(lines) + "\n"


def junit_xml(result: Comparison) -> str:
    """One <testcase> per row: regression = <failure>, unmatched = <skipped>, else passed."""
    suite = ET.Element("testsuite", name=f"configspec compare {result.kind}",
                       tests=str(len(result.rows)), failures=str(result.count("regression")),
                       errors="0",
                       skipped=str(result.count("only_baseline") + result.count("only_current")))  # fmt: skip
    for row in result.rows:
        case = ET.SubElement(suite, "testcase", classname=f"configspec.compare.{result.kind}",
                             name=f"{row.cell} :: {row.metric}")  # fmt: skip
        detail = (f"baseline {_number(row.baseline)}, current {_number(row.current)}, "
                  f"change {_change(row) or 'n/a'}, p {_p(row) or 'n/a'}, rule {row.rule or 'n/a'}"
                  + (f"; {row.note}" if row.note else ""))  # fmt: skip
        if row.status == "regression":
            failure = ET.SubElement(case, "failure", message=f"regression: {row.metric}",
                                    type="regression")  # fmt: skip
            failure.text = f"{detail}\nrule: {rule_text(result)}"
        elif row.status in ("only_baseline", "only_current"):
            ET.SubElement(case, "skipped", message=row.status.replace("_", " ") + f": {row.note}")
        else:
            ET.SubElement(case, "system-out").text = f"{row.status}: {detail}"
    if result.notes:
        ET.SubElement(suite, "system-out").text = "\n".join(result.notes)
    root = ET.Element("testsuites", name="configspec compare", tests=suite.get("tests"),
                      failures=suite.get("failures"), errors="0")  # fmt: skip
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_markdown(result: Comparison, path: Path) -> None:
    write_text_atomic(Path(path), markdown(result))


def write_junit(result: Comparison, path: Path) -> None:
    write_text_atomic(Path(path), junit_xml(result))
