"""The report's plot data: pure functions from profiles and recommendations to plain dataclasses.

Computing is kept apart from drawing (the idea of optuna's visualization/_pareto_front.py): every
function here is tested on its own with hand-built inputs, and `figures` only draws what these
return. Nothing here reads files or touches plotly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from configspec.analytic.formulas import iid_tokens_per_round
from configspec.profiles.alignment import AlignmentCell, AlignmentProfile
from configspec.profiles.drafting import DeviceProfile, DraftCell
from configspec.profiles.machine_load import MachineLoad
from configspec.profiles.policy import Policy
from configspec.profiles.summary import Summary
from configspec.recommend.schema import PICK_TITLES, Configuration, Recommendations
from device_profilers.base import is_measured

MEASURED, ESTIMATED = "measured", "estimated"
# The three objectives of the search, in the order of the Pareto plot's axes.
OBJECTIVES = ("goodput_tok_s", "usd_per_1m_tokens", "joules_per_token")
OBJECTIVE_TITLES = {
    "goodput_tok_s": "goodput (verified tok/s, higher is better)",
    "usd_per_1m_tokens": "$ per 1M tokens (lower is better)",
    "joules_per_token": "J per token (lower is better)",
}
PROJECTIONS = (
    ("goodput_tok_s", "usd_per_1m_tokens"),
    ("goodput_tok_s", "joules_per_token"),
    ("usd_per_1m_tokens", "joules_per_token"),
)


def power_kind(source: str | None) -> str:
    """`measured` or `estimated`, by the one rule (device_profilers.base.is_measured)."""
    return MEASURED if is_measured(source) else ESTIMATED


# ---------------------------------------------------------------- devices and environment


@dataclass(frozen=True)
class DeviceRow:
    device: str
    hostname: str
    cpu: str
    board: str | None
    logical_cores: int | None
    ram_gib: float | None
    os: str
    threads: int
    backend: str
    date_utc: str
    power_source: str
    power_kind: str  # measured | estimated
    power_basis: str | None
    idle_power_w: float
    idle_kind: str
    idle_source: str
    cells: int


def device_rows(profiles: Sequence[DeviceProfile]) -> list[DeviceRow]:
    rows = []
    for p in profiles:
        env, power = p.environment, p.power
        rows.append(
            DeviceRow(
                device=env.device,
                hostname=env.hostname,
                cpu=env.cpu_model,
                board=env.board_model,
                logical_cores=env.cpu_logical_cores,
                ram_gib=None if env.ram_bytes is None else env.ram_bytes / 2**30,
                os=env.os,
                threads=env.threads,
                backend=f"{env.backend} {env.backend_version}",
                date_utc=env.date_utc,
                power_source=power.source,
                power_kind=power_kind(power.source),
                power_basis=power.basis,
                idle_power_w=power.idle_power_w,
                idle_kind=power_kind(power.idle_source),
                idle_source=power.idle_source,
                cells=len(p.cells),
            )  # fmt: skip
        )
    return rows


# ------------------------------------------------------- means with error bars (dots)


@dataclass(frozen=True)
class MeansSeries:
    """One series: a mean per category with its 95% CI as asymmetric error bars."""

    name: str
    x: list[str]
    y: list[float]
    err_minus: list[float]  # y - ci95_low
    err_plus: list[float]  # ci95_high - y
    n: list[int]
    estimated: list[bool]  # drawn as open markers and labelled as estimates


@dataclass(frozen=True)
class MeansChart:
    title: str
    y_title: str
    series: list[MeansSeries]
    note: str = ""


def cell_label(cell: DraftCell) -> str:
    return f"{cell.draft} {cell.quant}"


def _ci_errors(summary: Summary) -> tuple[float, float]:
    return summary.mean - summary.ci95_low, summary.ci95_high - summary.mean


def _means_series(name: str, items: list[tuple[str, Summary, bool]]) -> MeansSeries:
    errors = [_ci_errors(s) for _, s, _ in items]
    return MeansSeries(
        name=name, x=[label for label, _, _ in items], y=[s.mean for _, s, _ in items],
        err_minus=[e[0] for e in errors], err_plus=[e[1] for e in errors],
        n=[s.n for _, s, _ in items], estimated=[est for _, _, est in items],
    )  # fmt: skip


def _contexts(profile: DeviceProfile) -> list[int]:
    return sorted({d.context_tokens for c in profile.cells for d in c.decode})


def throughput_chart(profile: DeviceProfile) -> MeansChart:
    """Decode tokens/s per draft x quant, one series per context length (mean, 95% CI)."""
    series = []
    for ctx in _contexts(profile):
        items = [(cell_label(c), d.tokens_per_s, False)
                 for c in profile.cells for d in c.decode if d.context_tokens == ctx]  # fmt: skip
        series.append(_means_series(f"decode @ {ctx} tokens of context", items))
    return MeansChart(
        title=f"Drafting throughput on {profile.environment.device}",
        y_title="decode tokens/s", series=series,
        note=f"mean of {profile.settings.repetitions} repetitions x "
        f"{profile.settings.decode_tokens} tokens; error bars: 95% CI (Student t)",
    )  # fmt: skip


def prefill_chart(profile: DeviceProfile) -> MeansChart:
    items = [(cell_label(c), c.prefill.tokens_per_s, False) for c in profile.cells]
    prompt = sorted({c.prefill.prompt_tokens for c in profile.cells})
    return MeansChart(
        title=f"Prefill on {profile.environment.device}", y_title="prompt tokens/s",
        series=[_means_series("prefill", items)],
        note=f"prompt of {', '.join(map(str, prompt))} tokens; error bars: 95% CI",
    )  # fmt: skip


def energy_chart(profile: DeviceProfile) -> MeansChart:
    """Energy per drafted token; estimated values are flagged so they are drawn differently."""
    series, kinds = [], set()
    for ctx in _contexts(profile):
        items = []
        for c in profile.cells:
            for d in c.decode:
                if d.context_tokens == ctx:
                    kind = power_kind(d.power_source)
                    kinds.add(kind)
                    items.append((cell_label(c), d.energy_j_per_token, kind == ESTIMATED))
        series.append(_means_series(f"@ {ctx} tokens of context", items))
    sources = sorted({d.power_source for c in profile.cells for d in c.decode})
    label = " and ".join(sorted(kinds)).upper() if kinds else ""
    return MeansChart(
        title=f"Energy per drafted token on {profile.environment.device} ({label})",
        y_title="J per drafted token", series=series,
        note=f"power source: {', '.join(sources)}; open markers are ESTIMATES, not measurements",
    )  # fmt: skip


# ---------------------------------------------------------------- lines (alignment, vs K)


@dataclass(frozen=True)
class LineSeries:
    name: str
    group: str  # series of one group share a colour
    x: list[float]
    y: list[float]
    y_low: list[float] | None = None  # 95% CI band when known
    y_high: list[float] | None = None
    closed_form: bool = False  # drawn dashed: a formula, not a measurement
    hover: list[str] | None = None


def alignment_label(cell: AlignmentCell) -> str:
    mode = "greedy" if cell.mode == "greedy" else f"sampled T={cell.temperature:g}"
    return f"{cell.draft} {cell.quant} ({mode})"


def acceptance_series(profile: AlignmentProfile) -> list[LineSeries]:
    """P(k-th draft token accepted | the first k-1 were), per position, one line per cell."""
    out = []
    for cell in profile.cells:
        label = alignment_label(cell)
        positions = list(range(1, len(cell.acceptance_by_position) + 1))
        out.append(
            LineSeries(
                name=label,
                group=label,
                x=[float(k) for k in positions],
                y=list(cell.acceptance_by_position),
            )  # fmt: skip
        )
    return out


def tokens_per_round_series(profile: AlignmentProfile) -> list[LineSeries]:
    """Per cell: tokens per round at fixed K walked from the traces (with CI where recorded),
    and beside it the i.i.d. closed form at the cell's mean acceptance rate."""
    out = []
    for cell in profile.cells:
        label = alignment_label(cell)
        fixed = sorted(cell.fixed_k, key=lambda s: s.k_max)
        if fixed:
            cis = [s.tokens_per_round_ci95 for s in fixed]
            has_ci = all(ci is not None for ci in cis)
            out.append(
                LineSeries(
                    name=f"{label}: from traces",
                    group=label,
                    x=[float(s.k_max) for s in fixed],
                    y=[s.tokens_per_round for s in fixed],
                    y_low=[ci[0] for ci in cis] if has_ci else None,
                    y_high=[ci[1] for ci in cis] if has_ci else None,
                )  # fmt: skip
            )
        ks = [s.k_max for s in fixed] or list(range(1, len(cell.iid_tokens_per_round) + 1))
        iid = [float(iid_tokens_per_round(cell.acceptance_rate, k)) for k in ks]
        out.append(
            LineSeries(
                name=f"{label}: i.i.d. closed form (a={cell.acceptance_rate:.3f})",
                group=label,
                x=[float(k) for k in ks],
                y=iid,
                closed_form=True,
            )  # fmt: skip
        )
    return out


# ---------------------------------------------------------------- configurations (analytic model)


@dataclass(frozen=True)
class ConfigPoint:
    """One evaluated configuration of one device, as the analytic model and search gave it."""

    device: str
    draft: str  # the target's name where it runs alone
    quant: str
    policy: Policy
    runs: str  # speculative decoding, or the target alone (search/space.py)
    label: str  # as search/space.Space.label writes it
    goodput_tok_s: float
    usd_per_1m_tokens: float
    joules_per_token: float
    on_front: bool = False
    picks: tuple[str, ...] = ()  # the recommendations that chose it (goodput, cost, ...)
    energy_source: str = ""

    def value(self, objective: str) -> float:
        return float(getattr(self, objective))


def devices_of(points: Sequence[ConfigPoint]) -> list[str]:
    return sorted({p.device for p in points})


METRIC_TITLES = {
    "goodput_tok_s": "goodput (tok/s)",
    "usd_per_1m_tokens": "$ per 1M tokens",
    "joules_per_token": "J per token",
}


def metrics_vs_k(points: Sequence[ConfigPoint], device: str) -> dict[str, list[LineSeries]]:
    """For each metric, one line per draft x quant over the fixed-K policies of `device`
    (threshold policies have no single K and appear in the Pareto plot only)."""
    groups: dict[str, list[ConfigPoint]] = {}
    for p in points:
        if p.device == device and p.policy.speculates and not p.policy.is_threshold:
            groups.setdefault(f"{p.draft} {p.quant}", []).append(p)
    out: dict[str, list[LineSeries]] = {m: [] for m in METRIC_TITLES}
    for label in sorted(groups):
        rows = sorted(groups[label], key=lambda p: p.policy.k_max)
        for metric in METRIC_TITLES:
            out[metric].append(
                LineSeries(
                    name=label,
                    group=label,
                    x=[float(p.policy.k_max) for p in rows],
                    y=[p.value(metric) for p in rows],
                    hover=[p.label for p in rows],
                )  # fmt: skip
            )
    return out


@dataclass(frozen=True)
class ParetoData:
    device: str
    labels: list[str]
    values: dict[str, list[float]]  # objective -> one value per configuration
    on_front: list[bool]
    picks: dict[str, int]  # recommendation name -> index into labels
    hover: list[str]
    estimated_energy: bool = False
    front_order: dict[tuple[str, str], list[int]] = field(default_factory=dict)


def hover_text(p: ConfigPoint) -> str:
    lines = [
        f"<b>{p.label}</b>", f"goodput {p.goodput_tok_s:.3g} tok/s",
        f"${p.usd_per_1m_tokens:.3g} per 1M tokens", f"{p.joules_per_token:.3g} J/token",
    ]  # fmt: skip
    if p.energy_source:
        lines.append(f"energy: {p.energy_source}")
    if p.picks:
        lines.append("recommended: " + ", ".join(p.picks))
    return "<br>".join(lines)


def _better_first(objective: str) -> bool:
    return objective == "goodput_tok_s"  # maximised; the others are minimised


def projection_front(values: dict[str, list[float]], x: str, y: str) -> list[int]:
    """Indices of the points non-dominated in the 2-D projection (x, y), sorted along x: the
    staircase drawn in each 2-D panel (the 3-D front seen from one side is not a 2-D front)."""
    sign = {o: -1.0 if _better_first(o) else 1.0 for o in (x, y)}
    pts = [
        (sign[x] * a, sign[y] * b, i)
        for i, (a, b) in enumerate(zip(values[x], values[y], strict=True))
    ]
    pts.sort()
    front, best_y = [], math.inf
    for _, b, i in pts:
        if b < best_y:
            front.append(i)
            best_y = b
    return sorted(front, key=lambda i: values[x][i])


def pareto_data(points: Sequence[ConfigPoint], device: str) -> ParetoData:
    rows = [p for p in points if p.device == device]
    values = {o: [p.value(o) for p in rows] for o in OBJECTIVES}
    picks: dict[str, int] = {}
    for i, p in enumerate(rows):
        for name in p.picks:
            picks.setdefault(name, i)
    return ParetoData(
        device=device, labels=[p.label for p in rows], values=values,
        on_front=[p.on_front for p in rows], picks=picks, hover=[hover_text(p) for p in rows],
        estimated_energy=any(power_kind(p.energy_source) == ESTIMATED for p in rows),
        front_order={(x, y): projection_front(values, x, y) for x, y in PROJECTIONS},
    )  # fmt: skip


# ---------------------------------------------------------------- tables


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[list[str]]


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}g}"


def machine_load_text(load: MachineLoad | None) -> str:
    """BUSY with its reasons when the machine was shared (profiling/machine_load.py)."""
    if load is None:
        return "not recorded"
    if load.busy:
        return f"BUSY: {'; '.join(load.reasons)} ({load.attempts} attempts)"
    others = (
        f", others {load.others_cpu_cores:.2f} cores" if load.others_cpu_cores is not None else ""
    )
    return f"quiet (spread {load.cov:.1%}{others})"


def draft_cell_table(profiles: Sequence[DeviceProfile]) -> Table:
    """Every measured cell with its numbers, for readers who want the values behind the dots."""
    columns = ["device", "draft", "quant", "context", "decode tok/s (95% CI)", "prefill tok/s",
               "J/token", "power source", "machine during the measurement", "file sha256"]  # fmt: skip
    rows = []
    for p in profiles:
        for c in p.cells:
            for d in c.decode:
                t = d.tokens_per_s
                rows.append([
                    p.environment.device, c.draft, c.quant, str(d.context_tokens),
                    f"{t.mean:.1f} ({t.ci95_low:.1f}–{t.ci95_high:.1f})",
                    f"{c.prefill.tokens_per_s.mean:.0f}",
                    f"{d.energy_j_per_token.mean:.3g} ({power_kind(d.power_source)})",
                    d.power_source, machine_load_text(d.machine_load), c.file_sha256[:12],
                ])  # fmt: skip
    return Table(columns, rows)


def provenance_table(files: Sequence) -> Table:
    """Files the report read: path, kind, schema, sha256, device, date, versions, used or not."""
    columns = ["file", "kind", "schema", "sha256", "bytes", "device", "date (UTC)",
               "configspec", "backend", "used"]  # fmt: skip
    rows = [
        [str(f.path), f.kind, "—" if f.schema_version is None else str(f.schema_version),
         f.sha256, str(f.size_bytes), f.device or "—", f.date_utc or "—",
         f.configspec_version or "—", f.backend or "—", "yes" if f.used else "NO (see above)"]
        for f in files
    ]  # fmt: skip
    return Table(columns, rows)


def model_file_table(
    drafting: Sequence[DeviceProfile], alignment: Sequence[AlignmentProfile]
) -> Table:
    """Model files by sha256 with where each was used, so a reader can tell runs apart."""
    seen: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for p in drafting:
        for c in p.cells:
            names.setdefault(c.file_sha256, f"{c.draft} {c.quant} ({c.file_bytes / 2**20:.0f} MiB)")
            seen.setdefault(c.file_sha256, []).append(f"drafting on {p.environment.device}")
    for a in alignment:
        for c in a.cells:
            for sha, name in ((c.draft_sha256, f"{c.draft} {c.quant}"),
                              (c.target_sha256, f"{c.target} {c.target_quant}")):  # fmt: skip
                names.setdefault(sha, name)
                use = f"alignment on {a.environment.device}"
                if use not in seen.setdefault(sha, []):
                    seen[sha].append(use)
    rows = [[names[sha], sha, ", ".join(dict.fromkeys(uses))] for sha, uses in seen.items()]
    return Table(["model file", "sha256", "used in"], rows)


# ---------------------------------------------------------------- what is missing


def missing_items(
    drafting: Sequence[DeviceProfile], alignment: Sequence[AlignmentProfile],
    verification_count: int, has_recommendations: bool, problems: Sequence[str],
) -> list[str]:  # fmt: skip
    """What the report cannot show and how to get it, one line each."""
    out = list(problems)
    if not drafting:
        out.append("no drafting profile: throughput, prefill and energy plots are missing; run "
                   "`configspec profile` on each edge device")  # fmt: skip
    if not alignment:
        out.append("no alignment profile: acceptance and tokens-per-round plots are missing; run "
                   "`configspec align`")  # fmt: skip
    if not verification_count:
        out.append("no verification profile: the analytic model needs it; run "
                   "`configspec verify-latency` where the target runs")  # fmt: skip
    if not has_recommendations:
        out.append("no recommendations file: goodput/$/J vs K, the Pareto front and the "
                   "recommendations table are missing; run `configspec recommend`")  # fmt: skip
    profiled = {(c.draft, c.quant) for p in drafting for c in p.cells}
    for a in alignment:
        unprofiled = sorted({(c.draft, c.quant) for c in a.cells} - profiled)
        if unprofiled and drafting:
            names = ", ".join(f"{d} {q}" for d, q in unprofiled)
            out.append(f"alignment on {a.environment.device} covers {names} but no device has a "
                       "drafting profile for it; run `configspec profile --drafts D --quants Q` "
                       "on the edge device")  # fmt: skip
        elif not drafting:
            out.append(f"{a.environment.device}: alignment profile but no drafting profile for any "
                       "device; run `configspec profile` on the edge device")  # fmt: skip
    for p in drafting:
        if p.interrupted:
            out.append(f"{p.environment.device}: the drafting profile was interrupted (partial); "
                       "re-run `configspec profile` for the full sweep")  # fmt: skip
    return out


# ---------------------------------------------------------------- recommendations file


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:+.0%}"


def _what(c: Configuration) -> list[str]:
    if c.speculates:
        return [c.draft or "", c.quant, c.policy.label]
    return [c.runs, c.quant, c.policy.label]


def verdicts(doc: Recommendations) -> list[str]:
    """The picks in words, one line per device and verdict (objectives sharing a pick share a
    line): the report opens with them."""
    lines = []
    for d in doc.devices:
        by_pick: dict[str, list[str]] = {}
        for name, pick in d.picks.items():
            by_pick.setdefault(pick.label, []).append(name)
        for names in by_pick.values():
            titles = ", ".join(PICK_TITLES.get(n, n) for n in names)
            lines.append(f"{d.device}, {titles}: {d.picks[names[0]].summary}")
    return lines


def recommendations_table(doc: Recommendations) -> Table:
    """One row per device and pick, as `configspec recommend` wrote them."""
    columns = ["device", "pick", "draft (or what runs)", "quant", "policy", "goodput tok/s",
               "$ / 1M tokens", "J / token", "energy", "speedup vs target alone", "cost saving",
               "energy saving"]  # fmt: skip
    rows = []
    for d in doc.devices:
        for name, pick in d.picks.items():
            p, vs = pick.predicted, pick.vs_target_autoregressive
            rows.append([
                d.device, PICK_TITLES.get(name, name), *_what(pick), _fmt(p.goodput_tok_s),
                _fmt(p.usd_per_1m_tokens), _fmt(p.joules_per_token),
                power_kind(p.energy_source), f"{vs.speedup:.2f}x", _percent(vs.cost_saving),
                _percent(vs.energy_saving),
            ])  # fmt: skip
    return Table(columns, rows)


def engine_settings_table(doc: Recommendations) -> Table:
    """Per device, pick and engine: that engine's own best for the objective, its figures (and
    without the network, as one host runs it) and the settings to paste."""
    columns = ["device", "pick", "engine", "draft (or what runs)", "quant", "policy",
               "goodput tok/s", "one host, tok/s", "settings"]  # fmt: skip
    rows = []
    for d in doc.devices:
        for name, pick in d.picks.items():
            if pick.deploy is not None:
                rows.append([d.device, PICK_TITLES.get(name, name), "configspec",
                             *_what(pick), _fmt(pick.predicted.goodput_tok_s), "—",
                             f"{pick.deploy.serve}; {pick.deploy.edge}"])  # fmt: skip
            for engine, setting in pick.engines.items():
                if setting is None:
                    continue
                c = setting.configuration
                text = setting.settings.get("command") or str(
                    setting.settings.get("speculative_config")
                )
                rows.append([d.device, PICK_TITLES.get(name, name), engine, *_what(c),
                             _fmt(c.predicted.goodput_tok_s),
                             _fmt(setting.colocated_goodput_tok_s), text])  # fmt: skip
    return Table(columns, rows)


def baselines_table(doc: Recommendations) -> Table:
    columns = ["device", "baseline", "goodput tok/s", "$ / 1M tokens", "J / token", "energy",
               "energy source"]  # fmt: skip
    rows = [
        [d.device, b.name, _fmt(b.goodput_tok_s), _fmt(b.usd_per_1m_tokens),
         _fmt(b.joules_per_token), power_kind(b.energy_source), b.energy_source]
        for d in doc.devices for b in d.baselines
    ]  # fmt: skip
    return Table(columns, rows)


def device_table(rows: Sequence[DeviceRow]) -> Table:
    """Edge devices with their power figures' kind shown as a badge (measured / estimated)."""
    columns = ["device", "CPU", "board", "cores", "RAM GiB", "OS", "threads", "backend",
               "profiled (UTC)", "drafting power", "power source", "idle W", "idle power",
               "idle source"]  # fmt: skip
    table_rows = [
        [r.device, r.cpu, r.board or "—", "—" if r.logical_cores is None else str(r.logical_cores),
         _fmt(r.ram_gib), r.os, str(r.threads), r.backend, r.date_utc, r.power_kind,
         r.power_source + (f" ({r.power_basis})" if r.power_basis else ""),
         f"{r.idle_power_w:.2f}", r.idle_kind, r.idle_source]
        for r in rows
    ]  # fmt: skip
    return Table(columns, table_rows)


def server_table(alignment: Sequence[AlignmentProfile], verification: Sequence) -> Table:
    """Where alignment and verification ran (the target's machine)."""
    columns = ["profile", "device", "CPU", "threads", "backend", "date (UTC)", "target",
               "verification power"]  # fmt: skip
    rows = []
    for a in alignment:
        e = a.environment
        targets = sorted({f"{c.target} {c.target_quant}" for c in a.cells})
        rows.append(["alignment", e.device, e.cpu_model, str(e.threads),
                     f"{e.backend} {e.backend_version}", e.date_utc, ", ".join(targets), "—"])  # fmt: skip
    for v in verification:
        e = v.environment
        sources = sorted({p.power_source for p in v.points if p.power_source})
        power = ", ".join(sources) if sources else "no energy readings"
        rows.append(["verification", e.device, e.cpu_model, str(e.threads),
                     f"{e.backend} {e.backend_version}", e.date_utc,
                     f"{v.target} {v.target_quant}", power])  # fmt: skip
    return Table(columns, rows)
