"""The terminal view of a device's recommendations (stdout): the picks, in a table and in words,
the baselines, and each engine's own settings for the picks."""

from __future__ import annotations

from rich.table import Table

from configspec.output import stdout
from configspec.progress import console
from configspec.recommend.schema import PICK_TITLES, Configuration, DeviceRecommendation


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:+.0%}"


def _what(c: Configuration) -> tuple[str, str, str]:
    """(draft, quant, policy) columns; a target-alone row says so in the draft column."""
    if c.speculates:
        return c.draft or "", c.quant, c.policy.label
    return f"- ({c.runs})", c.quant, c.policy.label


def print_device(report: DeviceRecommendation) -> None:
    table = Table(title=f"{report.device}: speculative decoding for {report.target} "
                        f"({report.method})")  # fmt: skip
    for column in ("pick", "draft", "quant", "policy"):
        table.add_column(column)
    for column in ("goodput tok/s", "$/1M tok", "J/token", "speedup", "cost saving",
                   "energy saving"):  # fmt: skip
        table.add_column(column, justify="right")
    for name, pick in report.picks.items():
        p, vs = pick.predicted, pick.vs_target_autoregressive
        table.add_row(
            PICK_TITLES[name], *_what(pick), f"{p.goodput_tok_s:.2f}",
            f"{p.usd_per_1m_tokens:.3f}", f"{p.joules_per_token:.3f}", f"{vs.speedup:.2f}x",
            _percent(vs.cost_saving), _percent(vs.energy_saving),
        )  # fmt: skip
    stdout.print(table)
    for name, pick in report.picks.items():
        stdout.print(f"{PICK_TITLES[name]}: {pick.summary}", highlight=False)
    for b in report.baselines:
        stdout.print(f"baseline {b.name}: {b.goodput_tok_s:.2f} tok/s, "
                     f"{b.usd_per_1m_tokens:.3f} $/1M, {b.joules_per_token:.3f} J/token "
                     f"({b.energy_source})", highlight=False)  # fmt: skip
    energy = report.picks["balanced"].predicted.energy_source
    stdout.print(f"Pareto front: {report.pareto_front_size} of {report.feasible} feasible "
                 f"({report.evaluated} evaluated of {report.space_size}); J/token of the "
                 f"balanced pick {energy}", highlight=False)  # fmt: skip
    _print_engines(report)
    for warning in report.warnings:  # logs: stderr
        console.print(f"[yellow]warning:[/yellow] {report.device}: {warning}", highlight=False)


def _print_engines(report: DeviceRecommendation) -> None:
    names = sorted({e for pick in report.picks.values() for e in pick.engines})
    if not names:
        return
    table = Table(title="Each engine's own best for the same objective (draft beside the "
                        "target; goodput without the network in brackets)")  # fmt: skip
    table.add_column("pick")
    for name in names:
        table.add_column(name)
    for objective, pick in report.picks.items():
        cells = []
        for name in names:
            setting = pick.engines.get(name)
            if setting is None:
                cells.append("-")
                continue
            c = setting.configuration
            cells.append(f"{c.label}: {c.predicted.goodput_tok_s:.2f} tok/s "
                         f"({setting.colocated_goodput_tok_s:.2f})")  # fmt: skip
        table.add_row(PICK_TITLES[objective], *cells)
    stdout.print(table)
    notes = sorted({n for pick in report.picks.values() for n in pick.engine_notes})
    for note in notes:
        stdout.print(f"note: {note}", highlight=False)
