"""The report's fleet section: measured fleets, the joint pick and the scaling curves, found in a
results folder by their kinds."""

from __future__ import annotations

import json

import pytest

from configspec.atomic_io import write_json_atomic
from configspec.compare.command import compare_files
from configspec.compare.result import Thresholds
from configspec.errors import ConfigspecError
from configspec.profiles.fleet import FleetProfile, FleetSettings, GroupResult, ServerResult
from configspec.profiles.io import save_profile
from configspec.profiles.kinds import PROFILE_KINDS, profile_kind
from configspec.profiles.policy import Policy
from configspec.report.build import build
from configspec.report.collect import collect_inputs
from configspec.report.html import FigureBlock, TableBlock
from tests.builders import environment
from tests.report.fixtures import full_results


def fleet_profile() -> FleetProfile:
    settings = FleetSettings(
        fleet_file="fleet.yaml", server="127.0.0.1:1", target="tgt", target_file_sha256="0",
        server_max_sessions=8, server_max_batch=4, server_batch_window_s=0.005,
        alignment="a.json", verification=None, duration_s=60, warmup_s=10, seed=0,
        round_timeout_s=300, loadgen="locust (fixture)",
    )  # fmt: skip
    group = GroupResult(name="g", device="edge-a", draft="d", quant="Q4_K_M",
                        policy=Policy.fixed(4), count=4, rtt_ms=20, bandwidth_mbit_s=None, arrival="closed",
                        think_s=0, sessions_per_s=None, tokens=300,
                        inter_token_latency_s={"mean": 0.25})  # fmt: skip
    return FleetProfile(environment=environment("emulator"), settings=settings, groups=[group],
                        server=ServerResult(verified_tokens_per_s=5.0, utilisation=0.8,
                                            batch_size_mean=2.5), rounds_checked=100)  # fmt: skip


def scaling_rows() -> list[dict]:
    return [{"group": "g", "config": "d Q4_K_M K=4", "devices": n, "speculative_tok_s": 2.0 * n,
             "speculative_itl_s": 0.2 + 0.01 * n, "server_only_tok_s": 1.5 * n,
             "server_only_itl_s": 0.3 + 0.02 * n} for n in range(1, 9)]  # fmt: skip


def test_fleet_profiles_and_the_joint_pick_make_the_fleet_section(tmp_path):
    results = full_results(tmp_path / "results")
    save_profile(fleet_profile(), results / "emulator" / "fleet-1.json")
    doc = {"kind": "fleet-recommendations", "objective": "goodput", "gain": {"goodput": 0.2},
           "joint": {"server": {"max_batch": 4, "batch_window_ms": 5.0}},
           "baseline": "server-only, model", "scaling": scaling_rows()}  # fmt: skip
    write_json_atomic(results / "fleet-recommendations.json", doc)
    inputs = collect_inputs(results)
    assert len(inputs.fleet) == 1 and inputs.fleet_recommendations[1]["kind"] == doc["kind"]
    report = build(inputs)
    fleet = next(s for s in report.sections if s.anchor == "fleet")
    figures = [b for b in fleet.blocks if isinstance(b, FigureBlock)]
    assert [f.div_id for f in figures] == ["fleet-throughput", "fleet-latency"]
    names = [t.name for t in figures[0].figure.data]
    assert "measured fleets (emulation)" in names and any("server-only" in n for n in names)
    tables = {b.css_id: b for b in fleet.blocks if isinstance(b, TableBlock)}
    runs = tables["fleet-runs-table"].table
    assert runs.rows[0][1] == "4" and runs.rows[0][3] == "5.00" and runs.rows[0][4] == "250"
    assert "Emulated" in tables["fleet-runs-table"].caption
    assert [r[1] for r in tables["fleet-scaling-table"].table.rows] == ["1", "2", "4", "8"]
    assert 'id="fleet"' in report.html and json.dumps("fleet-throughput")[1:-1] in report.html


def test_without_fleet_files_the_section_says_how_to_get_them(tmp_path):
    report = build(collect_inputs(full_results(tmp_path / "results")))
    fleet = next(s for s in report.sections if s.anchor == "fleet")
    assert "configspec fleet" in fleet.blocks[0] and "recommend --fleet" in fleet.blocks[0]


def test_a_fleet_profile_is_a_profile_kind_the_regression_gate_refuses(tmp_path):
    path = tmp_path / "fleet.json"
    save_profile(fleet_profile(), path)
    assert profile_kind(path) == "fleet" and PROFILE_KINDS["fleet"].made_by == "configspec fleet"
    with pytest.raises(ConfigspecError, match="regression gate compares drafting, alignment"):
        compare_files(path, path, Thresholds())
