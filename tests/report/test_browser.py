"""End to end: generate a report and open it in headless Chromium, as a reader would."""

from __future__ import annotations

import pytest

from configspec.report.build import write_report
from tests.conftest import ROOT
from tests.report.browser import have_chromium, open_report, pixel_std
from tests.report.fixtures import full_results

ARTIFACTS = ROOT / "test-artifacts" / "report"


@pytest.fixture(scope="module", autouse=True)
def _chromium():
    if not have_chromium():
        pytest.fail("headless Chromium is missing: apt-get install -y chromium chromium-driver")


def _assert_rendered(reading, expected_figures: int):
    assert reading.console_errors == []
    assert reading.resources == []  # nothing fetched: plotly.js is inline, no CDN
    assert reading.rendered_ms is not None, "the first screen's figures never finished drawing"
    assert reading.all_drawn_ms is not None, "scrolling through did not draw every figure"
    assert reading.figure_divs == expected_figures == len(reading.plots)
    for plot in reading.plots:
        assert plot["traces"] > 0 and plot["points"] > 0, plot
        assert plot["svg"], plot


def test_full_report_renders_in_chromium(tmp_path):
    results = full_results(tmp_path / "results")
    page = write_report(results, "browser", reports_dir=tmp_path / "reports")
    shot = ARTIFACTS / "full-report.png"
    reading = open_report(page, screenshot=shot, draw_on_demand=True)
    _assert_rendered(reading, 7)  # the 3-D view waits for its button
    [view] = reading.on_demand
    assert view["id"] == "pareto-3d-edge-a" and view["gl"], view
    assert view["traces"] > 0 and view["points"] > 0, view
    assert reading.recommendations_rows == 4  # one device x four picks
    assert shot.stat().st_size > 50_000
    assert pixel_std(shot) > 20  # a blank page is one colour (std 0)


def test_many_devices_every_figure_draws_and_every_3d_view_opens(tmp_path):
    """More 3-D views than Chromium's 16 WebGL contexts per page: drawn one at a time, all open."""
    devices = 17
    results = full_results(tmp_path / "results", devices=devices)
    page = write_report(results, "many", reports_dir=tmp_path / "reports")
    reading = open_report(page, timeout_s=60.0, draw_on_demand=True)
    _assert_rendered(reading, 5 * devices + 2)  # 3 drafting, vs-K, 2-D Pareto; 2 alignment
    # the first screen did not wait for the figures further down (drawn as the reader scrolls)
    assert 0 < reading.first_screen_figures < 10 < reading.figure_divs
    assert len(reading.on_demand) == devices
    for view in reading.on_demand:
        assert view["ms"] is not None and view["gl"] and view["points"] > 0, view


def test_partial_report_renders_and_says_what_is_missing(tmp_path):
    results = full_results(tmp_path / "results", recommend=False)
    (results / "server" / "verification-1.json").unlink()
    (results / "server" / "alignment-1.json").unlink()
    page = write_report(results, "partial", reports_dir=tmp_path / "reports")
    shot = ARTIFACTS / "partial-report.png"
    reading = open_report(page, screenshot=shot)
    _assert_rendered(reading, 3)  # throughput, prefill, energy
    assert reading.recommendations_rows is None
    assert pixel_std(shot) > 20
    assert "no alignment profile" in page.read_text()


def test_the_harness_sees_script_errors_and_undrawn_figures(tmp_path):
    """The checks above can fail: a page with a script error and an empty figure div."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<html><body><div class="plotly-graph-div" id="g"></div>'
        '<script>throw new Error("boom");</script></body></html>'
    )
    reading = open_report(page, timeout_s=2.0)
    assert any("boom" in e for e in reading.console_errors)
    assert reading.rendered_ms is None and reading.figure_divs == 1 and reading.plots == []
