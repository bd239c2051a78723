"""The report's fleet section: the emulated fleets measured (fleet profiles), the joint pick
(fleet-recommendations), and the scaling curves people ask for: system throughput and per-device
latency vs the number of devices, speculating from the edge vs the server-only baseline."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go

from configspec.profiles.fleet import FleetProfile
from configspec.report.data import LineSeries, Table
from configspec.report.figures import line_figure
from configspec.report.html import FigureBlock, Section, TableBlock, paragraph

EMULATION_NOTE = (
    "Emulated: the devices' draft compute (waits sampled from the drafting profile) and the "
    "network (relay delay and link rate). Real: the server, verification, batching, protocol."
)


def _ms(seconds: float) -> str:
    return f"{1e3 * seconds:.0f}"


def fleet_runs_table(runs: list[tuple[Path, FleetProfile]]) -> Table:
    rows = []
    for path, p in runs:
        devices = sum(g.count for g in p.groups)
        tokens = sum(g.tokens for g in p.groups)
        itl = sum(g.inter_token_latency_s.get("mean", 0.0) * g.tokens for g in p.groups)
        em = p.emulator
        rows.append([
            path.name, str(devices), "; ".join(f"{g.count} x {g.draft} {g.quant} {g.policy.label}"
                                               for g in p.groups),
            f"{p.server.verified_tokens_per_s:.2f}", _ms(itl / tokens) if tokens else "—",
            f"{p.server.utilisation:.0%}", f"{p.server.batch_size_mean:.2f}",
            f"{p.rounds_checked - p.rounds_not_as_predicted}/{p.rounds_checked}",
            f"{em.cores:.1%}" if em else "—",
        ])  # fmt: skip
    return Table(["profile", "devices", "groups", "server tok/s", "mean ITL ms", "utilisation",
                  "mean batch", "verified as traced", "emulator CPU"], rows)  # fmt: skip


def scaling_series(rows: list[dict], what: str) -> list[LineSeries]:
    """Per group: edge drafting (solid) and the server-only baseline (dashed) vs devices."""
    out = []
    for group in dict.fromkeys(r["group"] for r in rows):
        mine = [r for r in rows if r["group"] == group]
        x = [float(r["devices"]) for r in mine]
        scale = 1e3 if what == "itl_s" else 1.0
        out.append(LineSeries(f"{group}: {mine[0]['config']} (edge drafting)", group, x,
                              [scale * r[f"speculative_{what}"] for r in mine]))  # fmt: skip
        out.append(LineSeries(f"{group}: server-only baseline", group, x,
                              [scale * r[f"server_only_{what}"] for r in mine], closed_form=True))  # fmt: skip
    return out


def _measured_points(fig: go.Figure, runs: list[tuple[Path, FleetProfile]]) -> None:
    if not runs:
        return
    fig.add_scatter(
        name="measured fleets (emulation)", mode="markers", marker={"size": 10, "color": "black"},
        x=[sum(g.count for g in p.groups) for _, p in runs],
        y=[p.server.verified_tokens_per_s for _, p in runs],
        text=[path.name for path, _ in runs], hovertemplate="%{text}: %{y:.3g} tok/s<extra></extra>",
    )  # fmt: skip


def scaling_table(rows: list[dict]) -> Table:
    return Table(
        ["group", "devices", "edge drafting tok/s", "edge ITL ms", "server-only tok/s",
         "server-only ITL ms"],
        [[r["group"], str(r["devices"]), f"{r['speculative_tok_s']:.3g}",
          _ms(r["speculative_itl_s"]), f"{r['server_only_tok_s']:.3g}",
          _ms(r["server_only_itl_s"])] for r in rows if r["devices"] in (1, 2, 4, 8, 16, 32, 64)],
    )  # fmt: skip


def fleet_section(runs: list[tuple[Path, FleetProfile]],
                  recommendations: tuple[Path, dict] | None) -> Section:  # fmt: skip
    s = Section("fleet", "Fleet: many devices, one server")
    if not runs and recommendations is None:
        s.blocks.append(paragraph("No fleet profile or fleet recommendations: run `configspec "
                                  "fleet` and `configspec recommend --fleet` (docs/fleet.md).",
                                  "missing"))  # fmt: skip
        return s
    if runs:
        s.blocks.append(TableBlock(fleet_runs_table(runs), "fleet-runs-table",
                                   "Measured fleets: " + EMULATION_NOTE))  # fmt: skip
    if recommendations is None:
        return s
    path, doc = recommendations
    gain = doc.get("gain", {})
    s.blocks.append(paragraph(
        f"Joint pick from {path} (objective {doc.get('objective')}): predicted "
        f"{gain.get('goodput', 0):+.0%} verified tokens/s over configuring each device alone; "
        f"server batch limit {doc['joint']['server']['max_batch']}, window "
        f"{doc['joint']['server']['batch_window_ms']:g} ms."
    ))  # fmt: skip
    rows = doc.get("scaling", [])
    if rows:
        throughput = line_figure(scaling_series(rows, "tok_s"), "System throughput vs devices",
                                 "devices of the group's kind", "verified tokens/s (all devices)")  # fmt: skip
        _measured_points(throughput, runs)
        s.blocks.append(FigureBlock("fleet-throughput", throughput,
                                    f"Predicted (exact MVA) for the joint pick; dashed: "
                                    f"{doc.get('baseline', 'server-only baseline')}. Dots: "
                                    "emulated fleets (all groups together)."))  # fmt: skip
        s.blocks.append(FigureBlock("fleet-latency", line_figure(
            scaling_series(rows, "itl_s"), "Per-device inter-token latency vs devices",
            "devices of the group's kind", "mean inter-token latency (ms)")))  # fmt: skip
        s.blocks.append(TableBlock(scaling_table(rows), "fleet-scaling-table", "Scaling"))
    return s
