"""`configspec report`: collect the inputs, compute the plot data, draw, write one HTML file."""

from __future__ import annotations

import datetime as dt
import platform
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

import plotly
import yaml

import configspec
from configspec.atomic_io import write_text_atomic
from configspec.errors import ConfigspecError
from configspec.progress import console
from configspec.report import data as d
from configspec.report import figures as f
from configspec.report.collect import ReportInputs, collect_inputs
from configspec.report.configurations import ModelView, model_view
from configspec.report.fleet import fleet_section
from configspec.report.html import (
    FigureBlock,
    Section,
    TableBlock,
    bullet_list,
    paragraph,
    plotly_js_version,
    render_page,
)

RECOMMENDATIONS_TABLE_ID = "recommendations-table"
FOLD_VERDICTS_OVER_DEVICES = 4


@dataclass
class Report:
    html: str
    figures: list[FigureBlock]
    missing: list[str]
    sections: list[Section] = field(default_factory=list)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def _devices_text(devices: list[str]) -> str:
    return ", ".join(devices) if len(devices) <= 3 else f"{len(devices)} devices"


def _summary(inputs: ReportInputs, view: ModelView, missing: list[str]) -> Section:
    s = Section("summary", "Summary and what is missing")
    if inputs.recommendations:  # the verdict first: speculate with what, or not at all
        doc = inputs.recommendations[1]
        lines = bullet_list(d.verdicts(doc), "verdicts")
        # a long list (many devices) folds, so the first screen still shows figures
        fold = "" if len(doc.devices) <= FOLD_VERDICTS_OVER_DEVICES else " (click to open)"
        state = " open" if not fold else ""
        s.blocks.append(f"<details{state}><summary><b>Recommendations for "
                        f"{len(doc.devices)} device(s){fold}</b></summary>{lines}</details>")  # fmt: skip
    devices = sorted({p.environment.device for _, p in inputs.drafting})
    s.blocks.append(paragraph(
        f"{len(inputs.drafting)} drafting, {len(inputs.alignment)} alignment and "
        f"{len(inputs.verification)} verification profile(s) from {inputs.results_dir}; "
        f"devices: {', '.join(devices) or 'none'}. Power and energy figures carry a badge: "
        "MEASURED (a sensor) or ESTIMATE (no sensor; a model of the hardware)."
    ))  # fmt: skip
    if missing or view.notes:
        s.blocks.append("<p><b>Not shown, and how to get it:</b></p>")
        s.blocks.append(bullet_list(missing + view.notes, "missing"))
    else:
        s.blocks.append(paragraph("Every input is present."))
    warnings = [f"{p.environment.device}: {w}" for _, p in inputs.drafting for w in p.warnings]
    warnings += [f"alignment: {w}" for _, p in inputs.alignment for w in p.warnings]
    warnings += [f"verification: {w}" for _, p in inputs.verification for w in p.warnings]
    if inputs.recommendations:  # one line per warning, naming every device it concerns
        by_text: dict[str, list[str]] = {}
        for dev in inputs.recommendations[1].devices:
            for w in dev.warnings:
                by_text.setdefault(w, []).append(dev.device)
        warnings += [f"recommend, {_devices_text(devices)}: {w}" for w, devices in by_text.items()]
    if warnings:
        s.blocks.append("<p><b>Warnings recorded with the inputs:</b></p>")
        s.blocks.append(bullet_list(warnings, "warnings"))
    return s


def _devices(inputs: ReportInputs) -> Section:
    s = Section("devices", "Devices and environment")
    drafting = [p for _, p in inputs.drafting]
    if drafting:
        s.blocks.append(TableBlock(d.device_table(d.device_rows(drafting)), "device-table",
                                   "Edge devices (drafting profiles)"))  # fmt: skip
    servers = d.server_table([p for _, p in inputs.alignment], [p for _, p in inputs.verification])
    if servers.rows:
        s.blocks.append(TableBlock(servers, "server-table", "Where the target ran"))
    return s


def _drafting(inputs: ReportInputs) -> Section:
    s = Section("drafting", "Drafting: throughput, prefill, energy")
    profiles = [p for _, p in inputs.drafting]
    if not profiles:
        s.blocks.append(paragraph("No drafting profile: run `configspec profile`.", "missing"))
        return s
    for p in profiles:
        dev = _slug(p.environment.device)
        s.blocks.append(FigureBlock(f"throughput-{dev}", f.means_figure(d.throughput_chart(p))))
        s.blocks.append(FigureBlock(f"prefill-{dev}", f.means_figure(d.prefill_chart(p))))
        s.blocks.append(FigureBlock(f"energy-{dev}", f.means_figure(d.energy_chart(p))))
    s.blocks.append(TableBlock(d.draft_cell_table(profiles), "cell-table", "Measured values"))
    return s


def _alignment(inputs: ReportInputs) -> Section:
    s = Section("alignment", "Alignment: acceptance and tokens per round")
    if not inputs.alignment:
        s.blocks.append(paragraph("No alignment profile: run `configspec align`.", "missing"))
        return s
    for i, (_, a) in enumerate(inputs.alignment):
        where = f"{a.environment.device} ({a.environment.date_utc})"
        s.blocks.append(FigureBlock(f"acceptance-{i}", f.line_figure(
            d.acceptance_series(a), f"Acceptance per position, aligned on {where}",
            "draft position k", "P(k-th accepted | first k-1 accepted)")))  # fmt: skip
        s.blocks.append(FigureBlock(f"tokens-per-round-{i}", f.line_figure(
            d.tokens_per_round_series(a), "Tokens per round vs K: traces (solid) and the i.i.d. "
            "closed form (dashed)", "K (draft tokens per round)", "tokens per round"),
            "From the traces: every round walked over the target's continuations (greedy) or "
            "its expectation (sampled); shaded: 95% CI where recorded. Dashed: (1 - a^(K+1)) / "
            "(1 - a) at the mean acceptance a (Leviathan et al. 2023), which assumes "
            "acceptances are independent."))  # fmt: skip
    return s


def _model(view: ModelView) -> tuple[Section, Section]:
    vs_k = Section("vs-k", "Goodput, cost and energy vs K (analytic model)")
    pareto = Section("pareto", "Pareto front")
    if not view.points:
        for sec in (vs_k, pareto):
            sec.blocks.append(paragraph("Not available: needs drafting, alignment and "
                                        "verification profiles (see the summary).", "missing"))  # fmt: skip
        return vs_k, pareto
    caption = (f"Predicted by the analytic model (docs/recommend.md), scenario: "
               f"{view.scenario_origin}. Fixed-K policies only; threshold policies appear in "
               "the Pareto plot.")  # fmt: skip
    for device in d.devices_of(view.points):
        dev = _slug(device)
        vs_k.blocks.append(FigureBlock(f"vs-k-{dev}", f.metrics_vs_k_figure(
            d.metrics_vs_k(view.points, device), device), caption))  # fmt: skip
        data = d.pareto_data(view.points, device)
        pareto.blocks.append(FigureBlock(f"pareto-2d-{dev}", f.pareto_2d_figure(data),
            "Every configuration (grey: dominated; blue: on the 3-objective Pareto front). "
            "Red markers: the recommended picks. Hover a point for its configuration."))  # fmt: skip
        pareto.blocks.append(FigureBlock(
            f"pareto-3d-{dev}", f.pareto_3d_figure(data),
            "The 3-D view is drawn when asked (WebGL; one at a time on the page).",
            on_demand=f"Show the 3-D view for {device} (drag to rotate)"))  # fmt: skip
    return vs_k, pareto


def _recommendations(inputs: ReportInputs, view: ModelView) -> Section:
    s = Section("recommendations", "Recommendations")
    if not inputs.recommendations:
        s.blocks.append(paragraph("No recommendations file: run `configspec recommend`.",
                                  "missing"))  # fmt: skip
    else:
        path, doc = inputs.recommendations
        s.blocks.append(paragraph(f"From {path}, generated {doc.generated_utc}."))
        s.blocks.append(TableBlock(d.recommendations_table(doc), RECOMMENDATIONS_TABLE_ID))
        baselines = d.baselines_table(doc)
        if baselines.rows:
            s.blocks.append(TableBlock(baselines, "baselines-table", "Baselines (no speculation)"))
        s.blocks.append(TableBlock(
            d.engine_settings_table(doc), "engine-settings-table",
            "Settings per engine: configspec serve/edge for the pick; llama.cpp and vLLM each "
            "with its own best for the same objective, the draft beside the target",
        ))  # fmt: skip
    if view.scenario is not None:
        s.blocks.append(f"<h3>Scenario</h3><p>{view.scenario_origin}</p>")
        text = yaml.safe_dump(view.scenario, sort_keys=False, width=100)
        s.blocks.append(f'<pre id="scenario">{escape(text)}</pre>')
    return s


def _provenance(inputs: ReportInputs, generated_utc: str) -> Section:
    s = Section("provenance", "Provenance")
    s.blocks.append(paragraph(
        f"Report generated {generated_utc} by configspec {configspec.__version__} with plotly "
        f"{plotly.__version__} (page: plotly.js {plotly_js_version()}, gl3d bundle) on Python "
        f"{platform.python_version()}."
    ))  # fmt: skip
    s.blocks.append(TableBlock(d.provenance_table(inputs.files), "provenance-table", "Input files"))
    models = d.model_file_table([p for _, p in inputs.drafting], [p for _, p in inputs.alignment])
    if models.rows:
        s.blocks.append(TableBlock(models, "model-files-table", "Model files"))
    return s


def build(inputs: ReportInputs) -> Report:
    view = model_view(inputs)
    drafting = [p for _, p in inputs.drafting]
    alignment = [p for _, p in inputs.alignment]
    missing = d.missing_items(drafting, alignment, len(inputs.verification),
                              inputs.recommendations is not None, inputs.problems)  # fmt: skip
    generated = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    vs_k, pareto = _model(view)
    sections = [
        _summary(inputs, view, missing), _devices(inputs), _drafting(inputs), _alignment(inputs),
        vs_k, pareto, _recommendations(inputs, view),
        fleet_section(inputs.fleet, inputs.fleet_recommendations), _provenance(inputs, generated),
    ]  # fmt: skip
    figures = [b for s in sections for b in s.blocks if isinstance(b, FigureBlock)]
    html = render_page("configspec report", f"generated {generated} from {inputs.results_dir}",
                       sections)  # fmt: skip
    return Report(html, figures, missing + view.notes, sections)


def export_pngs(figures: list[FigureBlock], folder: Path) -> list[str]:
    """Static PNGs with kaleido when it is installed and works; messages say what happened."""
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return ["PNG export skipped: kaleido is not installed (pip install kaleido)"]
    written = []
    for block in figures:
        path = folder / f"{block.div_id}.png"
        try:
            png = block.figure.to_image(format="png", width=1200, scale=1)
        except Exception as exc:  # kaleido needs a Chrome it can start; say why it could not
            return [
                f"PNG export skipped: kaleido failed ({type(exc).__name__}: {exc})".splitlines()[0]
            ]
        with open(path.with_suffix(".png.tmp"), "wb") as handle:
            handle.write(png)
        path.with_suffix(".png.tmp").replace(path)
        written.append(str(path))
    return [f"{len(written)} PNG figure(s) written to {folder}"]


@dataclass
class ReportOptions:
    """`configspec report`: where the results are, the report's name, PNGs or not."""

    results: Path = Path("results")
    name: str = "latest"  # writes reports/<name>/index.html
    png: bool = False  # also export each figure as PNG (kaleido)
    reports_dir: Path = Path("reports")


def report(options: ReportOptions) -> Path:
    return write_report(options.results, options.name, options.png, options.reports_dir)


def write_report(results_dir: Path, name: str, png: bool = False,
                 reports_dir: Path = Path("reports")) -> Path:  # fmt: skip
    """Write reports/<name>/index.html atomically; returns its path."""
    if not name or "/" in name or name in (".", ".."):
        raise ConfigspecError(f"--name must be a plain folder name, not {name!r}")
    with console.status("reading profiles"):
        inputs = collect_inputs(results_dir)
    with console.status("drawing the report"):
        report = build(inputs)
    out = reports_dir / name / "index.html"
    write_text_atomic(out, report.html)
    for line in report.missing:
        console.print(f"[yellow]missing:[/yellow] {line}", highlight=False)
    if png:
        for line in export_pngs(report.figures, out.parent):
            console.print(line, highlight=False)
    size_mib = out.stat().st_size / 2**20
    console.print(f"report written to {out} ({size_mib:.1f} MiB, {len(report.figures)} figures)")
    return out
