"""The report's plot data on its own: golden values from hand-built inputs."""

from __future__ import annotations

import json
import math

import pytest

from configspec.profiles.policy import Policy
from configspec.recommend.schema import read_recommendations
from configspec.report import data as d
from tests import builders as b
from tests.report.fixtures import cell_with_spread, full_results

# Student t, 97.5% quantile, 2 degrees of freedom (3 samples): 4.302653
T_975_2 = 4.302652729911275


def _profile():
    return b.drafting_profile(
        [cell_with_spread("Q4_K_M", [10.0, 12.0, 14.0]),
         cell_with_spread("Q8_0", [20.0, 20.0, 20.0], source="measured:rapl")]
    )  # fmt: skip


def test_power_kind_only_sensor_readings_are_measured():
    assert d.power_kind("measured:nvml") == "measured"
    assert d.power_kind("estimated:catalog") == "estimated"
    assert d.power_kind("") == "estimated"
    assert d.power_kind(None) == "estimated"


def test_throughput_chart_has_ci_error_bars_per_context():
    chart = d.throughput_chart(_profile())
    assert [s.name for s in chart.series] == [
        "decode @ 16 tokens of context", "decode @ 512 tokens of context"
    ]  # fmt: skip
    at16 = chart.series[0]
    assert at16.x == ["d Q4_K_M", "d Q8_0"]
    assert at16.y == pytest.approx([12.0, 20.0])
    half = T_975_2 * 2.0 / math.sqrt(3)  # std of 10, 12, 14 is 2
    assert at16.err_minus == pytest.approx([half, 0.0])
    assert at16.err_plus == pytest.approx([half, 0.0])
    assert at16.n == [3, 3]
    assert chart.series[1].y == pytest.approx([6.0, 10.0])  # the fixture halves speed at 512


def test_prefill_chart():
    chart = d.prefill_chart(_profile())
    (series,) = chart.series
    assert series.y == pytest.approx([110.0, 110.0])
    assert series.err_plus[0] == pytest.approx(T_975_2 * 10.0 / math.sqrt(3))
    assert "8 tokens" in chart.note


def test_energy_chart_flags_estimates():
    chart = d.energy_chart(_profile())
    assert chart.series[0].estimated == [True, False]
    assert "ESTIMATED" in chart.title and "MEASURED" in chart.title
    assert "ESTIMATES" in chart.note
    # 5 W / tok_s: mean of 5/10, 5/12, 5/14
    assert chart.series[0].y[0] == pytest.approx((0.5 + 5 / 12 + 5 / 14) / 3)


def test_device_rows_mark_power_kind():
    (row,) = d.device_rows([_profile()])
    assert (row.device, row.power_kind, row.idle_kind, row.cells) == (
        "edge-a", "estimated", "estimated", 2
    )  # fmt: skip
    table = d.device_table([row])
    assert "estimated" in table.rows[0]


def test_acceptance_and_tokens_per_round_series():
    cell = b.iid_cell("d", "Q4_K_M", 0.8, k_max=3)
    cell.acceptance_by_position = [0.9, 0.8, 0.7]
    cell.fixed_k[0].tokens_per_round_ci95 = (1.7, 1.9)
    cell.fixed_k[1].tokens_per_round_ci95 = (2.3, 2.5)
    cell.fixed_k[2].tokens_per_round_ci95 = (2.8, 3.1)
    profile = b.alignment_profile([cell])
    (acc,) = d.acceptance_series(profile)
    assert acc.x == [1.0, 2.0, 3.0] and acc.y == [0.9, 0.8, 0.7]
    assert acc.name == "d Q4_K_M (greedy)"
    traces, iid = d.tokens_per_round_series(profile)
    assert not traces.closed_form and iid.closed_form
    assert traces.y == pytest.approx([1.8, 2.44, 2.952])
    assert traces.y_low == [1.7, 2.3, 2.8] and traces.y_high == [1.9, 2.5, 3.1]
    assert iid.y == pytest.approx([1.8, 2.44, 2.952])
    assert "a=0.800" in iid.name and traces.group == iid.group


def test_tokens_per_round_without_ci_has_no_band():
    profile = b.alignment_profile([b.iid_cell("d", "Q8_0", 0.5, k_max=2)])
    traces, _ = d.tokens_per_round_series(profile)
    assert traces.y_low is None and traces.y_high is None


def _point(k, goodput, usd, j, quant="Q4_K_M", tau=None, device="edge-a", front=False, picks=()):
    policy = Policy(k_max=k, tau=tau)
    return d.ConfigPoint(device, "d", quant, policy, "speculative decoding",
                         f"d {quant} {policy.label}", goodput, usd, j, front, picks,
                         "estimated: draft estimated:x")  # fmt: skip


def test_metrics_vs_k_groups_fixed_k_sorted():
    points = [
        _point(2, 12.0, 2.0, 1.5), _point(1, 10.0, 2.5, 1.8),
        _point(8, 11.0, 2.2, 1.6, tau=0.5),  # threshold policy: not on a K axis
        _point(1, 9.0, 3.0, 2.0, quant="Q8_0"), _point(1, 1.0, 1.0, 1.0, device="other"),
    ]  # fmt: skip
    lines = d.metrics_vs_k(points, "edge-a")
    goodput = lines["goodput_tok_s"]
    assert [s.name for s in goodput] == ["d Q4_K_M", "d Q8_0"]
    assert goodput[0].x == [1.0, 2.0] and goodput[0].y == [10.0, 12.0]
    assert lines["usd_per_1m_tokens"][0].y == [2.5, 2.0]
    assert lines["joules_per_token"][1].y == [2.0]
    assert goodput[0].hover == ["d Q4_K_M K=1", "d Q4_K_M K=2"]


def test_projection_front_staircase():
    values = {"goodput_tok_s": [10.0, 12.0, 8.0, 12.0], "usd_per_1m_tokens": [1.0, 2.0, 0.5, 3.0],
              "joules_per_token": [1.0, 1.0, 1.0, 1.0]}  # fmt: skip
    # goodput is maximised, $ minimised: point 3 (12, 3) is dominated by point 1 (12, 2)
    assert d.projection_front(values, "goodput_tok_s", "usd_per_1m_tokens") == [2, 0, 1]
    # $ and J both minimised, J constant: only the cheapest survives
    assert d.projection_front(values, "usd_per_1m_tokens", "joules_per_token") == [2]


def test_pareto_data_picks_hover_and_fronts():
    points = [
        _point(1, 10.0, 1.0, 1.0, front=True, picks=("cost", "energy")),
        _point(2, 12.0, 2.0, 1.2, front=True, picks=("goodput", "balanced")),
        _point(3, 9.0, 3.0, 2.0),
        _point(1, 5.0, 5.0, 5.0, device="other"),
    ]
    data = d.pareto_data(points, "edge-a")
    assert data.labels == ["d Q4_K_M K=1", "d Q4_K_M K=2", "d Q4_K_M K=3"]
    assert data.on_front == [True, True, False]
    assert data.picks == {"cost": 0, "energy": 0, "goodput": 1, "balanced": 1}
    assert data.values["goodput_tok_s"] == [10.0, 12.0, 9.0]
    assert "<b>d Q4_K_M K=2</b>" in data.hover[1] and "recommended: goodput" in data.hover[1]
    assert data.estimated_energy
    assert data.front_order[("goodput_tok_s", "usd_per_1m_tokens")] == [0, 1]


def test_recommendations_verdicts_engines_and_baselines_tables(tmp_path):
    results = full_results(tmp_path)  # written by the real `configspec recommend` code
    doc = read_recommendations(json.loads((results / "recommendations.json").read_text()), "r")
    (device,) = doc.devices
    rows = d.recommendations_table(doc).rows
    assert [r[1] for r in rows] == ["best goodput", "best cost", "best energy", "balanced (knee)"]
    for row, pick in zip(rows, device.picks.values(), strict=True):
        draft = pick.draft if pick.speculates else "target alone on the server"
        assert row[:5] == ["edge-a", row[1], draft, pick.quant, pick.policy.label]
        assert row[8] == ("measured" if pick.predicted.energy_source.startswith("measured:")
                          else "estimated")  # fmt: skip
    lines = d.verdicts(doc)
    assert sum(len(line.split(":")[0].split(", ")) - 1 for line in lines) == 4  # every pick
    assert all(line.startswith("edge-a, ") for line in lines)
    engines = d.engine_settings_table(doc)
    assert {r[2] for r in engines.rows} >= {"llama.cpp", "vllm"}
    base = d.baselines_table(doc)
    assert base.rows[0][:2] == ["edge-a", "tgt Q4_K_M alone on the server (no speculation)"]
    assert base.rows[0][5] == "measured"  # the fixture server measured its energy


def test_missing_items_name_what_and_how():
    drafting = b.drafting_profile([b.draft_cell("d", "Q4_K_M", {16: 0.03}, 5.0)])
    aligned_elsewhere = b.alignment_profile([b.iid_cell("other", "Q2_K", 0.7)])
    items = d.missing_items([drafting], [aligned_elsewhere], 0, False, ["x.json: bad (skipped)"])
    assert items[0] == "x.json: bad (skipped)"
    text = "\n".join(items)
    assert "configspec verify-latency" in text and "configspec recommend" in text
    assert "other Q2_K but no device has a drafting profile" in text
    assert "no alignment profile" not in text
    alone = d.missing_items([], [aligned_elsewhere], 1, True, [])
    assert any("server: alignment profile but no drafting profile" in i for i in alone)
    assert any(i.startswith("no drafting profile") for i in alone)
    assert d.missing_items([drafting], [b.alignment_profile([])], 1, True, []) == []


def test_draft_cell_and_model_file_tables():
    profile = _profile()
    cells = d.draft_cell_table([profile])
    assert len(cells.rows) == 4  # 2 cells x 2 contexts
    assert cells.rows[0][4] == f"12.0 ({12 - T_975_2 * 2 / math.sqrt(3):.1f}–" \
                               f"{12 + T_975_2 * 2 / math.sqrt(3):.1f})"  # fmt: skip
    models = d.model_file_table([profile], [])
    assert [r[1] for r in models.rows] == ["q4_k_m-sha", "q8_0-sha"]
    assert models.rows[0][2] == "drafting on edge-a"
