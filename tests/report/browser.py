"""Open a report in Debian's headless Chromium (selenium + chromedriver) and read what rendered.

Shared by the end-to-end test and benchmarks/report_size_and_load.py. Chromium runs with a new
empty profile and no network features; selenium is pointed at the system chromedriver and told
to stay offline, so nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WINDOW = (1366, 900)  # a common laptop screen
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # WebGL (plotly's 3-D view) without a GPU: Chromium's software rasterizer, which recent
    # versions only enable when asked.
    "--enable-unsafe-swiftshader",
]  # fmt: skip

# Per figure: its div id, traces, points drawn, whether an <svg> exists; all after rendering.
PLOTS_JS = """
return Array.from(document.querySelectorAll('.js-plotly-plot')).map(function (d) {
  var points = 0;
  (d.data || []).forEach(function (t) {
    var xs = t.x || t.y || [];
    points += xs.length || 0;
  });
  return {id: d.id, traces: (d.data || []).length, points: points,
          svg: !!d.querySelector('svg.main-svg'), gl: !!d.querySelector('canvas')};
});
"""


# Press every on-demand figure's button in turn; read each view once drawn (one is drawn at a time).
ON_DEMAND_IDS_JS = """
return Array.from(document.querySelectorAll('button.draw-on-demand')).map(function (b) {
  return b.getAttribute('data-figure'); });
"""
ON_DEMAND_READ_JS = """
var d = document.getElementById(arguments[0]), ms = window.configspecOnDemandMs[arguments[0]];
if (ms === undefined) return null;
var points = 0;
(d.data || []).forEach(function (t) { points += (t.x || []).length; });
return {id: d.id, ms: ms, traces: (d.data || []).length, points: points,
        gl: !!d.querySelector('canvas'), svg: !!d.querySelector('svg.main-svg')};
"""


@dataclass
class PageReading:
    console_errors: list[str]
    plots: list[dict]
    figure_divs: int  # every .plotly-graph-div on the page, drawn or not
    recommendations_rows: int | None  # None when the table is absent
    resources: list[str]  # URLs the page fetched after loading: none for a self-contained page
    rendered_ms: float | None  # navigation start -> the figures near the first screen drawn
    all_drawn_ms: float | None  # navigation start -> every figure drawn, scrolling through
    first_screen_figures: int | None  # how many figures the first screen waited for
    wall_s: float  # driver.get() -> the first screen drawn, seen from outside
    screenshot: Path | None
    extra: object = None  # what `extra_js` returned, for diagnostics
    on_demand: list[dict] = field(default_factory=list)  # per on-demand figure, once pressed


def have_chromium() -> bool:
    return os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)


def _driver(user_data_dir: str):
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium-manager must not fetch anything
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={user_data_dir}")
    options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))


def _draw_on_demand(driver, timeout_s: float) -> list[dict]:
    readings = []
    for ident in driver.execute_script(ON_DEMAND_IDS_JS):
        driver.find_element("css selector", f'button[data-figure="{ident}"]').click()
        start, reading = time.perf_counter(), None
        while reading is None and time.perf_counter() - start < timeout_s:
            time.sleep(0.02)
            reading = driver.execute_script(ON_DEMAND_READ_JS, ident)
        readings.append(reading or {"id": ident, "ms": None})
    return readings


def _scroll_through(driver, start: float, timeout_s: float) -> float | None:
    """Scroll down a screen at a time, as a reader would, until every figure is drawn (figures
    are drawn as they come near the viewport); the page's time of the last one, or None. From
    the bottom it starts again at the top: on a busy machine the page can be scrolled past a
    figure before its intersection with the viewport is computed, and a reader coming back to
    it draws it then."""
    while time.perf_counter() - start < timeout_s:
        done = driver.execute_script("return window.configspecAllDrawnMs || null;")
        if done is not None:
            return done
        driver.execute_script(
            "if (window.scrollY + window.innerHeight >= document.body.scrollHeight - 2)"
            " window.scrollTo(0, 0); else window.scrollBy(0, window.innerHeight);"
        )
        time.sleep(0.05)
    return None


def open_report(
    path: Path,
    screenshot: Path | None = None,
    timeout_s: float = 30.0,
    extra_js: str = "",
    draw_on_demand: bool = False,
) -> PageReading:
    profile_dir = tempfile.mkdtemp(prefix="configspec-chromium-")
    driver = _driver(profile_dir)
    try:
        start = time.perf_counter()
        driver.get(Path(path).resolve().as_uri())
        rendered_ms = None
        while time.perf_counter() - start < timeout_s:
            rendered_ms = driver.execute_script("return window.configspecRenderedMs || null;")
            if rendered_ms is not None:
                break
            time.sleep(0.02)
        wall_s = time.perf_counter() - start
        first_screen = driver.execute_script(
            "return document.body.getAttribute('data-plots-rendered');"
        )
        all_drawn_ms = _scroll_through(driver, start, timeout_s) if rendered_ms else None
        plots = driver.execute_script(PLOTS_JS)
        divs = driver.execute_script(
            "return document.querySelectorAll('.plotly-graph-div').length;"
        )
        rows = driver.execute_script(
            "var t = document.getElementById('recommendations-table');"
            "return t ? t.querySelectorAll('tbody tr').length : null;"
        )
        extra = driver.execute_script(extra_js) if extra_js else None
        on_demand = _draw_on_demand(driver, timeout_s) if draw_on_demand else []
        resources = driver.execute_script(
            "return performance.getEntriesByType('resource').map(function (e) { return e.name; });"
        )
        errors = [
            entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"
        ]
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            # The whole page: widen the window to the document's height for one tall capture.
            height = driver.execute_script("return document.documentElement.scrollHeight;")
            driver.set_window_size(WINDOW[0], min(int(height) + 100, 16000))
            time.sleep(0.3)
            driver.save_screenshot(str(screenshot))
        return PageReading(
            errors,
            plots,
            int(divs),
            rows,
            resources,
            rendered_ms,
            all_drawn_ms,
            None if first_screen is None else int(first_screen),
            wall_s,
            screenshot,
            extra,
            on_demand,
        )
    finally:
        driver.quit()
        shutil.rmtree(profile_dir, ignore_errors=True)


def pixel_std(png: Path) -> float:
    """Standard deviation of grey levels: ~0 for a blank (single-colour) screenshot."""
    from PIL import Image, ImageStat

    with Image.open(png) as image:
        return float(ImageStat.Stat(image.convert("L")).stddev[0])
