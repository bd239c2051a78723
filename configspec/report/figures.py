"""Draw the report's plot data (configspec.report.data) with plotly; no computation here."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from configspec.report.data import (
    METRIC_TITLES,
    OBJECTIVE_TITLES,
    OBJECTIVES,
    PROJECTIONS,
    LineSeries,
    MeansChart,
    ParetoData,
)

PALETTE = qualitative.Plotly
HEIGHT_PX = 420
FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 13}
PICK_SYMBOLS = {"goodput": "star", "cost": "diamond", "energy": "triangle-up", "balanced": "x"}


def _layout(fig: go.Figure, title: str, height: int = HEIGHT_PX, **extra) -> go.Figure:
    margin = extra.pop("margin", {"l": 60, "r": 20, "t": 60, "b": 60})
    fig.update_layout(
        title={"text": title, "x": 0.01}, height=height, font=FONT, template="plotly_white",
        margin=margin,
        legend={"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0}, **extra,
    )  # fmt: skip
    return fig


def _colours(groups: list[str]) -> dict[str, str]:
    return {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(dict.fromkeys(groups))}


def means_figure(chart: MeansChart) -> go.Figure:
    """Means with 95% error bars, one dot per category and series (side by side, like grouped
    bars, but a dot: the bundle embedded in the page has scatter, not bar). Open markers: ESTIMATE."""
    fig = go.Figure()
    for i, s in enumerate(chart.series):
        colour = PALETTE[i % len(PALETTE)]
        fig.add_scatter(
            name=s.name, x=s.x, y=s.y, mode="markers",
            marker={"color": colour, "size": 11, "line": {"width": 2, "color": colour},
                    "symbol": ["circle-open" if e else "circle" for e in s.estimated]},
            error_y={"type": "data", "symmetric": False, "array": s.err_plus,
                     "arrayminus": s.err_minus, "thickness": 1.5, "width": 6},
            customdata=[[n, "ESTIMATE" if e else "measured"] for n, e in zip(s.n, s.estimated, strict=True)],
            hovertemplate="%{x}<br>%{y:.3g} (+%{error_y.array:.2g} / -%{error_y.arrayminus:.2g}, "
                          "95% CI)<br>n=%{customdata[0]}, %{customdata[1]}<extra>" + s.name + "</extra>",
        )  # fmt: skip
    _layout(fig, chart.title, scattermode="group", scattergap=0.5, yaxis_title=chart.y_title,
            yaxis_rangemode="tozero")  # fmt: skip
    if chart.note:
        fig.add_annotation(text=chart.note, xref="paper", yref="paper", x=0, y=1.0, yanchor="bottom",
                           showarrow=False, font={"size": 11, "color": "#555"}, align="left")  # fmt: skip
    return fig


def _add_lines(fig: go.Figure, series: list[LineSeries], colours: dict[str, str], row=None,
               col=None, showlegend: bool = True) -> None:  # fmt: skip
    where = {"row": row, "col": col} if row else {}
    for s in series:
        colour = colours[s.group]
        if s.y_low is not None and s.y_high is not None:
            fig.add_scatter(
                x=s.x + s.x[::-1], y=s.y_high + s.y_low[::-1], fill="toself", line_width=0,
                fillcolor=colour, opacity=0.15, hoverinfo="skip", showlegend=False,
                legendgroup=s.name, **where,
            )  # fmt: skip
        fig.add_scatter(
            name=s.name, x=s.x, y=s.y, legendgroup=s.name, showlegend=showlegend,
            mode="lines" if s.closed_form else "lines+markers",
            line={"color": colour, "dash": "dash" if s.closed_form else "solid"},
            text=s.hover, hovertemplate=("%{text}<br>" if s.hover else "") + "x=%{x}, y=%{y:.4g}"
            + f"<extra>{s.name}</extra>", **where,
        )  # fmt: skip


def line_figure(series: list[LineSeries], title: str, x_title: str, y_title: str) -> go.Figure:
    fig = go.Figure()
    _add_lines(fig, series, _colours([s.group for s in series]))
    return _layout(fig, title, xaxis_title=x_title, yaxis_title=y_title)


def metrics_vs_k_figure(lines: dict[str, list[LineSeries]], device: str) -> go.Figure:
    metrics = list(METRIC_TITLES)
    fig = make_subplots(rows=1, cols=3, subplot_titles=[METRIC_TITLES[m] for m in metrics],
                        horizontal_spacing=0.08)  # fmt: skip
    colours = _colours([s.group for m in metrics for s in lines[m]])
    for col, metric in enumerate(metrics, start=1):
        _add_lines(fig, lines[metric], colours, row=1, col=col, showlegend=col == 1)
        fig.update_xaxes(title_text="K (draft tokens per round)", row=1, col=col)
    return _layout(fig, f"Goodput, cost and energy vs K on {device} (analytic model)")


def _pick_traces(data: ParetoData, x: str, y: str, z: str | None = None):
    """One marker per recommended point; picks that chose the same point share it."""
    by_point: dict[int, list[str]] = {}
    for name, i in sorted(data.picks.items()):
        by_point.setdefault(i, []).append(name)
    for i, names in by_point.items():
        point = {"x": [data.values[x][i]], "y": [data.values[y][i]]}
        if z:
            point["z"] = [data.values[z][i]]
        yield ", ".join(names), names[0], i, point


def pareto_2d_figure(data: ParetoData) -> go.Figure:
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.08)
    for col, (x, y) in enumerate(PROJECTIONS, start=1):
        first = col == 1
        others = [i for i, on in enumerate(data.on_front) if not on]
        front = [i for i, on in enumerate(data.on_front) if on]
        for idx, name, style in ((others, "dominated", {"color": "#bbbbbb", "size": 6}),
                                 (front, "Pareto front (3 objectives)", {"color": PALETTE[0], "size": 8})):  # fmt: skip
            fig.add_scatter(
                x=[data.values[x][i] for i in idx], y=[data.values[y][i] for i in idx],
                mode="markers", marker=style, name=name, legendgroup=name, showlegend=first,
                text=[data.hover[i] for i in idx], hovertemplate="%{text}<extra></extra>",
                row=1, col=col,
            )  # fmt: skip
        stair = data.front_order.get((x, y), [])
        fig.add_scatter(
            x=[data.values[x][i] for i in stair], y=[data.values[y][i] for i in stair],
            mode="lines", line={"color": PALETTE[0], "width": 1, "dash": "dot", "shape": "hv"},
            name="2-D front of this view", legendgroup="stair", showlegend=first,
            hoverinfo="skip", row=1, col=col,
        )  # fmt: skip
        for name, first_pick, i, point in _pick_traces(data, x, y):
            fig.add_scatter(
                **point, mode="markers", name=f"recommended: {name}", legendgroup=f"pick-{name}",
                showlegend=first, text=[data.hover[i]], hovertemplate="%{text}<extra></extra>",
                marker={"symbol": PICK_SYMBOLS.get(first_pick, "star"), "size": 15, "color": "#d62728",
                        "line": {"width": 1, "color": "black"}},
                row=1, col=col,
            )  # fmt: skip
        fig.update_xaxes(title_text=OBJECTIVE_TITLES[x], row=1, col=col)
        fig.update_yaxes(title_text=OBJECTIVE_TITLES[y], row=1, col=col)
    energy = " — J/token includes ESTIMATED power" if data.estimated_energy else ""
    return _layout(fig, f"Pareto front on {data.device}: 2-D projections{energy}", height=460)


def pareto_3d_figure(data: ParetoData) -> go.Figure:
    x, y, z = OBJECTIVES
    fig = go.Figure()
    colours = ["#9a9a9a" if not on else PALETTE[0] for on in data.on_front]
    fig.add_scatter3d(
        x=data.values[x], y=data.values[y], z=data.values[z], mode="markers",
        marker={"size": [7 if on else 4 for on in data.on_front], "color": colours},
        text=data.hover, hovertemplate="%{text}<extra></extra>",
        name="configurations (blue: Pareto front)",
    )  # fmt: skip
    for name, _, i, point in _pick_traces(data, x, y, z):
        fig.add_scatter3d(
            **point, mode="markers", name=f"recommended: {name}", text=[data.hover[i]],
            hovertemplate="%{text}<extra></extra>",
            marker={"size": 9, "color": "#d62728", "symbol": "diamond",
                    "line": {"width": 1, "color": "black"}},
        )  # fmt: skip
    # Few ticks: WebGL axis labels are triangulated on the CPU, the 3-D view's main cost.
    fig.update_layout(scene={"xaxis": {"title": "goodput tok/s", "nticks": 5},
                             "yaxis": {"title": "$ / 1M tokens", "nticks": 5},
                             "zaxis": {"title": "J / token", "nticks": 5},
                             # further out than the default so the axis titles are not clipped
                             "camera": {"eye": {"x": 1.9, "y": 1.9, "z": 1.1}}})  # fmt: skip
    return _layout(fig, f"Pareto front on {data.device}: 3-D view (drag to rotate)", height=560,
                   margin={"l": 0, "r": 0, "t": 60, "b": 0})  # fmt: skip
