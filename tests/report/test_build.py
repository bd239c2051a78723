"""Collecting inputs, bad input, the page's structure and the CLI (no browser here)."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from plotly.offline import get_plotlyjs_version

from configspec.errors import ConfigspecError
from configspec.profiles.io import save_profile
from configspec.report.build import RECOMMENDATIONS_TABLE_ID, build, write_report
from configspec.report.collect import collect_inputs
from configspec.report.configurations import model_view
from configspec.report.html import FigureBlock, plotly_js, plotly_js_version, render_figure
from tests import builders as b
from tests.report.fixtures import full_results
from tests.test_cli import run_cli


def test_no_results_folder_is_a_clear_error(tmp_path):
    with pytest.raises(
        ConfigspecError, match="results folder .* not found; run `configspec profile`"
    ):
        collect_inputs(tmp_path / "nope")


def test_no_profiles_found_is_a_clear_error(tmp_path):
    (tmp_path / "notes.json").write_text("{}")
    with pytest.raises(ConfigspecError, match="no profiles found in .*configspec profile"):
        collect_inputs(tmp_path)


def test_other_schema_version_is_skipped_and_reported(tmp_path):
    full_results(tmp_path, recommend=False)
    future = json.loads((tmp_path / "edge-a" / "drafting-1.json").read_text())
    future["schema_version"] = 2
    future["environment"]["device"] = "edge-b"
    (tmp_path / "edge-b").mkdir()
    (tmp_path / "edge-b" / "drafting-2.json").write_text(json.dumps(future))
    inputs = collect_inputs(tmp_path)
    assert [p.environment.device for _, p in inputs.drafting] == ["edge-a"]
    (problem,) = inputs.problems
    assert "drafting-2.json has schema version 2, this configspec reads version 1" in problem
    assert [f.used for f in inputs.files if f.kind == "drafting"] == [True, False]
    report = build(inputs)
    assert "schema version 2" in report.html and "NO (see above)" in report.html


def test_only_other_schema_versions_is_an_error(tmp_path):
    profile = b.drafting_profile([b.draft_cell("d", "Q4_K_M", {16: 0.03}, 5.0)])
    data = json.loads(profile.model_dump_json())
    data["schema_version"] = 9
    (tmp_path / "drafting-x.json").write_text(json.dumps(data))
    with pytest.raises(ConfigspecError, match="no usable profiles in .*schema version 9"):
        collect_inputs(tmp_path)


def test_alignment_without_drafting_says_what_is_missing(tmp_path):
    save_profile(
        b.alignment_profile([b.iid_cell("d", "Q4_K_M", 0.8)]), tmp_path / "a" / "alignment-1.json"
    )
    report = build(collect_inputs(tmp_path))
    text = "\n".join(report.missing)
    assert "server: alignment profile but no drafting profile" in text
    assert "no drafting profile: throughput" in text
    assert "no recommendations file" in text
    assert [f.div_id for f in report.figures] == ["acceptance-0", "tokens-per-round-0"]
    assert f'id="{RECOMMENDATIONS_TABLE_ID}"' not in report.html
    assert "No recommendations file: run `configspec recommend`." in report.html


def test_full_report_structure(tmp_path):
    report = build(collect_inputs(full_results(tmp_path / "results")))
    ids = [f.div_id for f in report.figures]
    assert ids == ["throughput-edge-a", "prefill-edge-a", "energy-edge-a", "acceptance-0",
                   "tokens-per-round-0", "vs-k-edge-a", "pareto-2d-edge-a", "pareto-3d-edge-a"]  # fmt: skip
    assert report.missing == []
    html = report.html
    # plotly.js exactly once, inline; no external script or CDN
    assert html.count(plotly_js()) == 1
    assert not re.search(r"<script[^>]+src=", html)
    outside_library = html.replace(plotly_js(), "")
    assert "cdn.plot.ly" not in outside_library and "https://" not in outside_library
    for div_id in ids:
        assert f'id="{div_id}"' in html
    assert f'id="{RECOMMENDATIONS_TABLE_ID}"' in html
    assert 'class="badge estimated"' in html and "ESTIMATE" in html
    assert "recorded in the recommendations file" in html
    assert html.count("sha256") >= 1 and "drafting-1.json" in html


def test_the_page_embeds_the_small_bundle_of_the_plotly_js_that_plotly_writes_for():
    assert len(plotly_js()) < 2_000_000  # the gl3d partial bundle, not the 4.8 MB full one
    assert plotly_js_version() == get_plotlyjs_version()


def test_a_trace_type_outside_the_bundle_is_an_error_not_a_blank_figure():
    import plotly.graph_objects as go

    with pytest.raises(ValueError, match="bar"):
        render_figure(FigureBlock("b", go.Figure(go.Bar(x=[1], y=[2]))))


def test_on_demand_figure_waits_for_its_button_and_cannot_end_its_script_early():
    import plotly.graph_objects as go

    fig = go.Figure(go.Scatter3d(x=[1], y=[2], z=[3], text=["</script><b>x"]))
    html = render_figure(FigureBlock("v", fig, on_demand="Show"))
    assert 'class="draw-on-demand" data-figure="v">Show</button>' in html
    assert "plotly-graph-div" not in html  # not drawn, so not counted as a figure on load
    assert html.count("</script>") == 1  # the text's own "</script>" is escaped inside the JSON


def test_model_view_marks_what_recommend_wrote(tmp_path):
    results = full_results(tmp_path)
    doc = json.loads((results / "recommendations.json").read_text())
    (device,) = doc["devices"]
    view = model_view(collect_inputs(results))
    assert view.notes == []
    assert len(view.points) == device["space_size"]
    assert sum(p.on_front for p in view.points) == device["pareto_front_size"]
    for name, pick in device["picks"].items():
        (chosen,) = [p for p in view.points if name in p.picks]
        assert (chosen.label, chosen.quant, chosen.policy.label) == (
            pick["label"], pick["quant"], pick["policy"]["label"]
        )  # fmt: skip
        assert chosen.goodput_tok_s == pytest.approx(pick["predicted"]["goodput_tok_s"])
        assert chosen.joules_per_token == pytest.approx(pick["predicted"]["joules_per_token"])


def test_model_view_without_recommendations_uses_default_scenario(tmp_path):
    view = model_view(collect_inputs(full_results(tmp_path, recommend=False)))
    assert view.points and view.scenario_origin.startswith("default scenario")
    assert {n for p in view.points for n in p.picks} == {"goodput", "cost", "energy", "balanced"}


def test_write_report_is_atomic_and_named(tmp_path):
    results = full_results(tmp_path / "results")
    out = write_report(results, "demo", reports_dir=tmp_path / "reports")
    assert out == tmp_path / "reports" / "demo" / "index.html"
    assert [p.name for p in out.parent.iterdir()] == ["index.html"]  # no temporary left over
    with pytest.raises(ConfigspecError, match="--name must be a plain folder name"):
        write_report(results, "../x", reports_dir=tmp_path / "reports")


def test_png_export_says_what_happened(tmp_path):
    out = write_report(full_results(tmp_path / "r"), "p", png=True, reports_dir=tmp_path / "rep")
    pngs = list(out.parent.glob("*.png"))
    try:
        import kaleido  # noqa: F401
    except ImportError:
        assert pngs == []  # skipped with a message, not an error
    else:
        assert len(pngs) in (0, 8)  # all, or none with kaleido's reason printed


def test_cli_report_and_its_errors(tmp_path):
    results = full_results(tmp_path / "results")
    ok = run_cli("report", "--results", str(results), "--name", "cli", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "reports" / "cli" / "index.html").is_file()
    assert "report written to reports/cli/index.html" in ok.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = run_cli("report", "--results", str(empty), cwd=tmp_path)
    assert bad.returncode == 2
    lines = [line for line in bad.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "no profiles found" in lines[0]
    assert "Traceback" not in bad.stderr
    assert run_cli("report", "--help").returncode == 0


def test_alignment_traces_are_in_the_provenance(tmp_path):
    cell = b.iid_cell("d", "Q4_K_M", 0.8)
    cell.traces_file = "alignment-1.traces.npz"
    save_profile(b.alignment_profile([cell]), tmp_path / "alignment-1.json")
    (tmp_path / "alignment-1.traces.npz").write_bytes(b"npz bytes")
    inputs = collect_inputs(tmp_path)
    (traces,) = [f for f in inputs.files if f.kind == "alignment traces"]
    assert traces.sha256 == hashlib.sha256(b"npz bytes").hexdigest() and traces.size_bytes == 9


def test_recommendations_of_another_schema_version_are_named_not_used(tmp_path):
    results = full_results(tmp_path)
    path = results / "recommendations.json"
    old = json.loads(path.read_text())
    old["schema_version"] = 1
    path.write_text(json.dumps(old))
    (results / "recommendations.yaml").unlink()
    inputs = collect_inputs(results)
    assert inputs.recommendations is None
    (problem,) = inputs.problems
    assert "schema version 1" in problem and "re-run `configspec recommend`" in problem
    assert [f.used for f in inputs.files if f.kind == "recommendations"] == [False]
