"""One self-contained HTML page: plotly.js embedded once in <head>, every figure a div after it.

No CDN, no external file: the page opens offline. Figures are converted with
`include_plotlyjs=False` (the library is already on the page). A small script at the end marks
when every figure has been drawn (`window.configspecRenderedMs`, from navigation start), which
the tests and the load benchmark read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from configspec.report.data import Table

PLOT_CONFIG = {"displaylogo": False, "responsive": True}


@dataclass
class FigureBlock:
    div_id: str
    figure: go.Figure
    caption: str = ""


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
    div = pio.to_html(
        block.figure, full_html=False, include_plotlyjs=False, div_id=block.div_id,
        config=PLOT_CONFIG, default_width="100%",
    )  # fmt: skip
    caption = f'<p class="caption">{escape(block.caption)}</p>' if block.caption else ""
    return f'<figure class="plot">{div}{caption}</figure>'


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
.missing { background: #fff7e0; border-left: 4px solid #e0a800; padding: 8px 12px 8px 28px; }
.warnings { background: #fdeeee; border-left: 4px solid #c0392b; padding: 8px 12px 8px 28px; }
pre { background: #f5f5f7; padding: 8px 12px; overflow-x: auto; font-size: 0.85em; }
"""

RENDER_MARKER_JS = """
(function () {
  function drawn() {
    var divs = document.querySelectorAll('.plotly-graph-div');
    for (var i = 0; i < divs.length; i++) {
      var d = divs[i];
      if (!d._fullLayout || !d.data || !d.querySelector('svg.main-svg')) return false;
    }
    return true;
  }
  function tick() {
    if (drawn()) {
      window.configspecRenderedMs = performance.now();
      document.body.setAttribute('data-plots-rendered',
        String(document.querySelectorAll('.plotly-graph-div').length));
    } else {
      requestAnimationFrame(tick);
    }
  }
  requestAnimationFrame(tick);
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
        f'<script type="text/javascript">{get_plotlyjs()}</script></head>'
        f'<body><main><h1>{escape(title)}</h1><p class="meta">{escape(subtitle)}</p>'
        f"<nav><ol>{nav}</ol></nav>{body}</main>"
        f"<script>{RENDER_MARKER_JS}</script></body></html>\n"
    )
