"""One self-contained HTML page: plotly.js embedded once in <head>, every figure a div after it.

No CDN, no external file: the page opens offline. The embedded plotly.js is the official "gl3d"
partial bundle (vendor/plotly-gl3d.min.js: the scatter and scatter3d traces the report uses,
1.7 MB instead of the full 4.8 MB bundle, which took 2 s to evaluate). Each figure is embedded as
its JSON (plotly's own `to_json`) next to an empty div. A figure marked `on_demand` (the
WebGL 3-D views) is drawn when the reader presses its button, and only one at a time: a browser
allows a handful of WebGL contexts per page, and each view costs about 1 s to draw in software.
Every other figure is drawn when it comes within a screen of the viewport, so the first screen
is ready as fast whatever the number of devices; a small script marks when the figures near the
first screen, and later all figures, have been drawn (`window.configspecRenderedMs`,
`window.configspecAllDrawnMs`, from navigation start), which the tests and the load benchmark
read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from html import escape
from importlib.resources import files

import plotly.graph_objects as go

from configspec.report.data import Table

PLOT_CONFIG = {"displaylogo": False, "responsive": True}
PLOTLY_BUNDLE = "plotly-gl3d.min.js"  # npm plotly.js-gl3d-dist-min, MIT (vendor/LICENSE-plotly.js)
BUNDLE_TRACE_TYPES = frozenset({"scatter", "scatter3d", "surface", "mesh3d", "cone",
                                "streamtube", "isosurface", "volume"})  # fmt: skip


@cache
def plotly_js() -> str:
    return (files("configspec.report") / "vendor" / PLOTLY_BUNDLE).read_text(encoding="utf-8")


def plotly_js_version() -> str:
    match = re.search(r"plotly\.js[^\n]*? v(\d+\.\d+\.\d+)", plotly_js()[:400])
    return match.group(1) if match else "unknown"


@dataclass
class FigureBlock:
    div_id: str
    figure: go.Figure
    caption: str = ""
    on_demand: str = ""  # a button label: draw the figure only when the reader asks for it


@dataclass
class TableBlock:
    table: Table
    css_id: str = ""
    caption: str = ""


@dataclass
class Section:
    anchor: str
    title: str
    blocks: list[str | FigureBlock | TableBlock] = field(default_factory=list)  # str: raw HTML


def paragraph(text: str, css_class: str = "") -> str:
    cls = f' class="{css_class}"' if css_class else ""
    return f"<p{cls}>{escape(text)}</p>"


def bullet_list(items: list[str], css_class: str = "") -> str:
    cls = f' class="{css_class}"' if css_class else ""
    return f"<ul{cls}>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"


def badge(kind: str) -> str:
    """A visible marker: MEASURED (green) or ESTIMATE (orange)."""
    text = "MEASURED" if kind == "measured" else "ESTIMATE"
    return f'<span class="badge {escape(kind)}">{text}</span>'


def render_table(block: TableBlock) -> str:
    ident = f' id="{escape(block.css_id)}"' if block.css_id else ""
    head = "".join(f"<th>{escape(c)}</th>" for c in block.table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in block.table.rows
    )
    caption = f"<caption>{escape(block.caption)}</caption>" if block.caption else ""
    return (f'<div class="table-wrap"><table{ident}>{caption}<thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")  # fmt: skip


def _cell(value: str) -> str:
    """Table cells are text; the two power kinds become badges so estimates stand out."""
    if value in ("measured", "estimated"):
        return badge(value)
    return escape(value)


def render_figure(block: FigureBlock) -> str:
    unknown = {t.type for t in block.figure.data} - BUNDLE_TRACE_TYPES
    if unknown:
        raise ValueError(f"figure {block.div_id}: trace types {sorted(unknown)} are not in the "
                         f"embedded plotly.js bundle ({PLOTLY_BUNDLE})")  # fmt: skip
    caption = f'<p class="caption">{escape(block.caption)}</p>' if block.caption else ""
    ident, height = escape(block.div_id), _height(block.figure)
    if block.on_demand:
        button = (f'<button type="button" class="draw-on-demand" data-figure="{ident}">'
                  f"{escape(block.on_demand)}</button>")  # fmt: skip
        div = f'<div id="{ident}" class="plot-on-demand" style="height:{height}px"></div>'
        return f'<figure class="plot">{button}{div}{_spec_script(block)}{caption}</figure>'
    div = f'<div id="{ident}" class="plotly-graph-div plot-lazy" style="height:{height}px"></div>'
    return f'<figure class="plot">{div}{_spec_script(block)}{caption}</figure>'


def _spec_script(block: FigureBlock) -> str:
    """The figure as JSON for the page's script to draw (`</` escaped: it cannot end the tag)."""
    spec = json.dumps({"figure": json.loads(block.figure.to_json()), "config": PLOT_CONFIG})
    spec = spec.replace("</", "<\\/")
    return f'<script type="application/json" id="{escape(block.div_id)}-spec">{spec}</script>'


def _height(figure: go.Figure) -> int:
    return int(figure.layout.height or 450)


def _render_block(block: str | FigureBlock | TableBlock) -> str:
    if isinstance(block, FigureBlock):
        return render_figure(block)
    if isinstance(block, TableBlock):
        return render_table(block)
    return block


CSS = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d1d1f;
       margin: 0; background: #fafafa; }
main { max-width: 1240px; margin: 0 auto; padding: 16px 24px 48px; background: #fff; }
h1 { font-size: 1.6em; margin: 0.4em 0 0.2em; }
h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
nav ol { columns: 2; margin: 0.5em 0; }
.meta { color: #555; font-size: 0.92em; }
figure.plot { margin: 12px 0 20px; }
.caption { color: #555; font-size: 0.9em; margin: 2px 0 0; }
.table-wrap { overflow-x: auto; margin: 8px 0 16px; }
table { border-collapse: collapse; font-size: 0.88em; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f3; }
tbody tr:nth-child(even) { background: #fafafc; }
td { font-variant-numeric: tabular-nums; word-break: break-word; max-width: 36em; }
.badge { display: inline-block; padding: 0 6px; border-radius: 4px; font-size: 0.8em;
         font-weight: 700; letter-spacing: 0.03em; white-space: nowrap; }
.badge.measured { background: #d7f5dd; color: #11612a; }
.badge.estimated { background: #ffe2b8; color: #8a4500; }
.plot-on-demand { display: none; }
.plot-on-demand.drawn { display: block; }
button.draw-on-demand { font: inherit; padding: 6px 14px; margin: 4px 0; cursor: pointer; }
.missing { background: #fff7e0; border-left: 4px solid #e0a800; padding: 8px 12px 8px 28px; }
.warnings { background: #fdeeee; border-left: 4px solid #c0392b; padding: 8px 12px 8px 28px; }
pre { background: #f5f5f7; padding: 8px 12px; overflow-x: auto; font-size: 0.85em; }
"""

# Figures are drawn as they come within a screen of the viewport, so a page with many devices
# opens as fast as one with a single device; each marks itself done when plotly's promise
# resolves (nothing polls). window.configspecRenderedMs: navigation start ->
# every figure near the first screen drawn; window.configspecAllDrawnMs: -> every figure drawn
# (after the reader, or a test, has scrolled through). Read by the tests and the load benchmark.
LAZY_DRAW_JS = """
(function () {
  var MARGIN_PX = 900;
  var lazy = Array.prototype.slice.call(document.querySelectorAll('div.plot-lazy'));
  function draw(d) {  // the figure's JSON sits next to its div
    var spec = JSON.parse(document.getElementById(d.id + '-spec').textContent);
    return Plotly.newPlot(d, spec.figure.data, spec.figure.layout, spec.config);
  }
  window.configspecDraw = draw;
  var first = lazy.filter(function (d) {
    return d.getBoundingClientRect().top < window.innerHeight + MARGIN_PX;
  });
  var firstLeft = first.length, left = lazy.length;
  function firstScreenDrawn() {
    window.configspecRenderedMs = performance.now();
    document.body.setAttribute('data-plots-rendered', String(first.length));
  }
  function figureDrawn(d) {
    if (first.indexOf(d) >= 0 && --firstLeft === 0) firstScreenDrawn();
    if (--left === 0) window.configspecAllDrawnMs = performance.now();
  }
  if (firstLeft === 0) firstScreenDrawn();
  if (left === 0) window.configspecAllDrawnMs = performance.now();
  var observer = new IntersectionObserver(function (entries) {
    entries.forEach(function (e) {
      if (!e.isIntersecting) return;
      observer.unobserve(e.target);
      draw(e.target).then(function () { figureDrawn(e.target); });
    });
  }, {rootMargin: MARGIN_PX + 'px 0px'});
  lazy.forEach(function (d) { observer.observe(d); });
})();
"""

# On-demand figures: one drawn at a time (Plotly.purge frees the previous one's WebGL context).
# window.configspecOnDemandMs[id]: button press -> drawn, for the tests and the load benchmark.
ON_DEMAND_JS = """
(function () {
  window.configspecOnDemandMs = {};
  var shown = null;
  function hide(div) {
    Plotly.purge(div);
    div.classList.remove('drawn');
    document.querySelector('button[data-figure="' + div.id + '"]').style.display = '';
  }
  document.querySelectorAll('button.draw-on-demand').forEach(function (button) {
    button.addEventListener('click', function () {
      var id = button.getAttribute('data-figure'), div = document.getElementById(id);
      if (shown && shown !== div) hide(shown);
      var t0 = performance.now();
      button.style.display = 'none';
      div.classList.add('drawn');
      window.configspecDraw(div).then(function () {
        window.configspecOnDemandMs[id] = performance.now() - t0;
      });
      shown = div;
    });
  });
})();
"""


def render_page(title: str, subtitle: str, sections: list[Section]) -> str:
    nav = "".join(f'<li><a href="#{escape(s.anchor)}">{escape(s.title)}</a></li>' for s in sections)
    body = "".join(
        f'<section id="{escape(s.anchor)}"><h2>{escape(s.title)}</h2>'
        + "".join(_render_block(b) for b in s.blocks)
        + "</section>"
        for s in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style>"
        f'<script type="text/javascript">{plotly_js()}</script></head>'
        f'<body><main><h1>{escape(title)}</h1><p class="meta">{escape(subtitle)}</p>'
        f"<nav><ol>{nav}</ol></nav>{body}</main>"
        f"<script>{LAZY_DRAW_JS}{ON_DEMAND_JS}</script></body></html>\n"
    )
