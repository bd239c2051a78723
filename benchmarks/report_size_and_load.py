"""How big is the report and how fast does it open? Targets: under 10 MB, under 3 s.

Writes the report for a results folder (default: results/, the demo pair after `configspec run`
or `configspec profile`), then opens it N times, each time in a fresh headless Chromium with a new
empty profile (a cold cache, as a reader's first open), and reads the time from navigation start
to the first screen's figures drawn (the page's own marker, `window.configspecRenderedMs`: the
page draws a figure when it comes within a screen of the viewport), then scrolls down a screen
at a time and reads when every figure has been drawn (`window.configspecAllDrawnMs`; this one
includes the scrolling's pauses). The 3-D Pareto
views are drawn when the reader presses their button (docs/report.md); after the load, each is
pressed and the time from the press to the view drawn is printed too.

    python benchmarks/report_size_and_load.py --results results --repeats 5

Until `configspec align` and `configspec verify-latency` have produced their profiles,
`--fill-missing` completes a COPY of the folder with the hand-built fixtures of the tests (never
presented as measurements: their CPU reads "fixture") so the page has every figure; size and load
time depend on the figures drawn, not on their values. The output says which inputs were filled.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from configspec.profiles.io import save_profile  # noqa: E402
from configspec.report.build import write_report  # noqa: E402
from configspec.report.collect import collect_inputs  # noqa: E402
from tests.report.browser import open_report  # noqa: E402

# Diagnostic copy only (the measured page is untouched): time plotly.js's evaluation and each
# Plotly.newPlot call, to say where the load time goes.
TIMING_HOOK = (
    "<script>window.benchPlotlyReadyMs = performance.now(); var benchNewPlot = Plotly.newPlot;"
    "window.benchFigureMs = {}; Plotly.newPlot = function () { var t = performance.now();"
    " var r = benchNewPlot.apply(this, arguments);"
    " var d = arguments[0]; window.benchFigureMs[d.id || d] = performance.now() - t; return r; };</script></head>"
)
BREAKDOWN_JS = "return {plotly: window.benchPlotlyReadyMs, figures: window.benchFigureMs};"
SIZE_TARGET_BYTES = 10 * 10**6
LOAD_TARGET_S = 3.0


def fill_missing(results: Path, work: Path) -> tuple[Path, list[str]]:
    """A copy of `results` with fixture alignment/verification/recommendations where missing."""
    from configspec.recommend.command import RecommendOptions, recommend
    from tests import builders as b

    copy = work / "results"
    shutil.copytree(results, copy)
    inputs = collect_inputs(copy)
    filled = []
    cells = sorted({(c.draft, c.quant) for _, p in inputs.drafting for c in p.cells})
    if not inputs.alignment:
        rates = [0.75 + 0.03 * i for i in range(len(cells))]  # fixture values, not measured
        profile = b.alignment_profile(
            [b.iid_cell(d, q, a, taus=(0.3, 0.6)) for (d, q), a in zip(cells, rates, strict=True)]
        )
        save_profile(profile, copy / "fixture" / "alignment-fixture.json")
        filled.append("alignment")
    if not inputs.verification:
        save_profile(b.verification_profile(), copy / "fixture" / "verification-fixture.json")
        filled.append("verification")
    if inputs.recommendations is None or filled:
        recommend(RecommendOptions(results=copy))
        filled.append("recommendations")
    return copy, filled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--fill-missing", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="configspec-report-bench-"))
    try:
        results, filled = (
            fill_missing(args.results, work) if args.fill_missing else (args.results, [])
        )
        page = write_report(results, "bench", reports_dir=work / "reports")
        size = page.stat().st_size
        inputs = collect_inputs(results)
        real = [f"{p.environment.device} ({p.environment.cpu_model})" for _, p in inputs.drafting]
        readings = [open_report(page, draw_on_demand=True) for _ in range(args.repeats)]
        for r in readings:
            if r.console_errors or r.rendered_ms is None:
                raise SystemExit(f"page did not render cleanly: {r.console_errors}")
        rendered_s = [r.rendered_ms / 1000 for r in readings]
        if any(r.all_drawn_ms is None for r in readings):
            raise SystemExit("scrolling through the page did not draw every figure")
        all_drawn_s = [r.all_drawn_ms / 1000 for r in readings]
        timed = page.with_name("timed.html")
        timed.write_text(page.read_text().replace("</script></head>", "</script>" + TIMING_HOOK, 1))
        breakdown = [open_report(timed, extra_js=BREAKDOWN_JS) for _ in range(args.repeats)]
        wall_s = [r.wall_s for r in readings]
        print(f"drafting profiles: {', '.join(real)}")
        print(f"filled with fixtures: {', '.join(filled) if filled else 'nothing'}")
        print(f"figures: {readings[0].figure_divs}, recommendations rows: "
              f"{readings[0].recommendations_rows}")  # fmt: skip
        print(f"report size: {size / 1e6:.2f} MB ({size} bytes); target < 10 MB: "
              f"{'PASS' if size < SIZE_TARGET_BYTES else 'FAIL'}")  # fmt: skip
        print(f"navigation start -> first screen's figures drawn ({readings[0].first_screen_figures} "
              f"of {readings[0].figure_divs}), {args.repeats} cold opens (fresh Chromium profile "
              f"each): median {statistics.median(rendered_s):.2f} s, min {min(rendered_s):.2f} s, "
              f"max {max(rendered_s):.2f} s; target < 3 s (median): "
              f"{'PASS' if statistics.median(rendered_s) < LOAD_TARGET_S else 'FAIL'}")  # fmt: skip
        print(f"navigation start -> every figure drawn, scrolling a screen at a time: median "
              f"{statistics.median(all_drawn_s):.2f} s, min {min(all_drawn_s):.2f} s, max "
              f"{max(all_drawn_s):.2f} s")  # fmt: skip
        on_demand = {v["id"]: [] for v in readings[0].on_demand}
        for r in readings:
            for v in r.on_demand:
                if v.get("ms") is None or not v.get("gl"):
                    raise SystemExit(f"3-D view {v['id']} was not drawn after its button")
                on_demand[v["id"]].append(v["ms"] / 1000)
        for ident, times in on_demand.items():
            print(f"button -> {ident} drawn (WebGL, on demand): median "
                  f"{statistics.median(times):.2f} s over {len(times)} opens")  # fmt: skip
        print(f"driver.get() -> first screen drawn, from outside: median "
              f"{statistics.median(wall_s):.2f} s")  # fmt: skip
        plotly_s = statistics.median(b.extra["plotly"] / 1000 for b in breakdown)
        figures = breakdown[0].extra["figures"]
        per_figure = {k: statistics.median(b.extra["figures"][k] / 1000 for b in breakdown)
                      for k in figures}  # fmt: skip
        print(f"where the time goes (median of {args.repeats} instrumented cold opens): "
              f"plotly.js evaluated at {plotly_s:.2f} s; Plotly.newPlot per figure: "
              + ", ".join(f"{k} {v:.2f} s" for k, v in per_figure.items()))  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
