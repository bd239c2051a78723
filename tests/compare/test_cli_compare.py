"""`configspec compare` / `baseline update` from the command line: exit codes and report files.

Most tests call the CLI's entry point in-process (`cli`, fast); the exit-code tests that pin the
installed command run it as a real subprocess (`run_cli`).
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from configspec.profiles.io import save_profile
from tests import builders as b
from tests.test_cli import run_cli


class Result:
    def __init__(self, returncode: int, stdout: str, stderr: str):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run `configspec ARGS` through configspec.cli.main in this process; returns its exit code."""
    from configspec.cli import main

    def run(*args: str, cwd: Path | None = None) -> Result:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        monkeypatch.setattr("sys.argv", ["configspec", *args])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out = capsys.readouterr()
        return Result(code, out.out, out.err)

    return run


@pytest.fixture
def drafting_files(tmp_path: Path):
    base = save_profile(
        b.drafting_profile([b.noisy_draft_cell(30, seed=1)]), tmp_path / "base.json"
    )
    same = save_profile(
        b.drafting_profile([b.noisy_draft_cell(30, seed=2)]), tmp_path / "same.json"
    )
    slow = save_profile(
        b.drafting_profile([b.noisy_draft_cell(20, seed=2)]), tmp_path / "slow.json"
    )
    return base, same, slow


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "configspec: error:" in lines[0], stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize("command", [["compare"], ["baseline"], ["baseline", "update"]])
def test_help(cli, command):
    result = cli(*command, "--help")
    assert result.returncode == 0 and "Usage" in result.stdout


def test_exit_0_on_noise_and_1_on_a_slowdown(drafting_files):
    base, same, slow = drafting_files
    passed = run_cli("compare", str(base), str(same))
    assert passed.returncode == 0, passed.stderr
    assert "drafting: PASS" in passed.stdout  # the table and verdict go to stdout
    failed = run_cli("compare", str(base), str(slow))
    assert failed.returncode == 1, failed.stderr
    assert "drafting: REGRESSION" in failed.stdout
    as_json = run_cli("compare", str(base), str(slow), "--json")
    assert as_json.returncode == 1
    printed = json.loads(as_json.stdout)  # stdout is one JSON document
    assert printed["verdict"] == "regression" and printed["kind"] == "drafting"
    assert any(row["status"] == "regression" for row in printed["rows"])
    # the same slowdown inside a tolerance of 40 % passes
    assert run_cli("compare", str(base), str(slow), "--tolerance", "0.4").returncode == 0


def test_a_slowdown_on_another_cpu_exits_0_with_a_note(drafting_files, tmp_path):
    base, _, slow = drafting_files
    data = json.loads(slow.read_text())
    data["environment"]["cpu_model"] = "Intel(R) Xeon(R) Processor"
    other_cpu = tmp_path / "other-cpu.json"
    other_cpu.write_text(json.dumps(data))
    result = run_cli("compare", str(base), str(other_cpu))
    # the cells match and are shown as info: not "nothing matches" (exit 2)
    assert result.returncode == 0, result.stderr
    assert "speed not gated" in result.stderr and "info" in result.stdout


def test_exit_2_on_mismatched_schema_versions(drafting_files, tmp_path):
    base, same, _ = drafting_files
    data = json.loads(same.read_text())
    data["schema_version"] = 2
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps(data))
    result = run_cli("compare", str(base), str(newer))
    assert result.returncode == 2
    assert "schema version 2" in _one_error_line(result.stderr)
    assert run_cli("compare", str(newer), str(base)).returncode == 2


def test_exit_2_on_mismatched_kinds(cli, drafting_files, tmp_path):
    base, _, _ = drafting_files
    alignment = save_profile(b.alignment_profile([b.gate_alignment_cell()]), tmp_path / "al.json")
    result = cli("compare", str(base), str(alignment))
    assert result.returncode == 2
    assert "cannot compare a drafting profile" in _one_error_line(result.stderr)


@pytest.mark.parametrize("content", [None, "{not json", '{"kind": "recipe"}', "[1, 2]", "dir"])
def test_exit_2_on_unreadable_input(cli, drafting_files, tmp_path, content):
    base, _, _ = drafting_files
    bad = tmp_path / "bad.json"
    if content == "dir":
        bad.mkdir()
    elif content is not None:
        bad.write_text(content)
    result = cli("compare", str(base), str(bad))
    assert result.returncode == 2
    _one_error_line(result.stderr)


def test_exit_2_on_an_invalid_profile_body(cli, drafting_files, tmp_path):
    base, same, _ = drafting_files
    data = json.loads(same.read_text())
    del data["cells"][0]["decode"][0]["tokens_per_s"]
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(data))
    result = cli("compare", str(base), str(broken))
    assert result.returncode == 2
    assert "invalid profile at" in _one_error_line(result.stderr)


def test_exit_2_when_nothing_matches(cli, drafting_files, tmp_path):
    base, _, _ = drafting_files
    other = save_profile(b.drafting_profile([b.noisy_draft_cell(30, seed=2)], device="other-device"),
                         tmp_path / "other.json")  # fmt: skip
    md = tmp_path / "summary.md"
    result = cli("compare", str(base), str(other), "--markdown", str(md))
    assert result.returncode == 2
    assert "no cell of" in result.stderr
    assert not md.exists()  # no report that could read "pass"


def test_exit_2_on_a_bad_tolerance(cli, drafting_files):
    base, same, _ = drafting_files
    result = cli("compare", str(base), str(same), "--tolerance", "1.5")
    assert result.returncode == 2
    assert "--tolerance" in _one_error_line(result.stderr)


def _md_columns(line: str) -> int:
    return len(line.replace("\\|", "").strip().strip("|").split("|"))


def test_markdown_and_junit_are_well_formed(cli, tmp_path):
    base = b.drafting_profile(
        [b.noisy_draft_cell(30, seed=1), b.noisy_draft_cell(40, seed=3, quant="Q2_K")]
    )
    cur = b.drafting_profile(
        [b.noisy_draft_cell(20, seed=2), b.noisy_draft_cell(25, seed=4, quant="Q8_0")]
    )
    base_path, cur_path = (
        save_profile(base, tmp_path / "b.json"),
        save_profile(cur, tmp_path / "c.json"),
    )
    md, xml = tmp_path / "out" / "summary.md", tmp_path / "out" / "junit.xml"
    result = cli(
        "compare", str(base_path), str(cur_path), "--markdown", str(md), "--junit", str(xml)
    )
    assert result.returncode == 1, result.stderr

    lines = md.read_text().splitlines()
    assert lines[0].startswith("## configspec compare") and "regression" in lines[0]
    table = [line for line in lines if line.startswith("|")]
    assert table[1].startswith("|---")
    assert {_md_columns(line) for line in table} == {7}
    assert len(table) == 2 + 4  # header, rule, 2 metrics + 2 unmatched cells
    assert "❌ regression" in table[2]  # regressions first

    root = ET.parse(xml).getroot()
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert int(suite.get("tests")) == len(cases) == 4
    assert (
        int(suite.get("failures")) == len([c for c in cases if c.find("failure") is not None]) == 2
    )
    assert (
        int(suite.get("skipped")) == len([c for c in cases if c.find("skipped") is not None]) == 2
    )
    assert int(root.get("failures")) == 2


def test_passing_junit_has_no_failures(cli, drafting_files, tmp_path):
    base, same, _ = drafting_files
    xml = tmp_path / "j.xml"
    assert cli("compare", str(base), str(same), "--junit", str(xml)).returncode == 0
    suite = ET.parse(xml).getroot().find("testsuite")
    assert suite.get("failures") == "0" and all(c.find("failure") is None for c in suite)


def test_baseline_update_copies_byte_for_byte_to_the_default_path(cli, drafting_files, tmp_path):
    base, _, _ = drafting_files
    result = cli("baseline", "update", str(base), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    promoted = tmp_path / "results" / "baselines" / "edge-a-drafting.json"
    assert promoted.read_bytes() == base.read_bytes()
    assert os.stat(promoted).st_mode & 0o044  # readable by others: it is committed
    assert not [p for p in promoted.parent.iterdir() if p.name.startswith(".")]  # no temp left


def test_baseline_update_to_an_explicit_path_replaces_the_old_one(cli, drafting_files, tmp_path):
    base, same, _ = drafting_files
    to = tmp_path / "baselines" / "demo.json"
    assert cli("baseline", "update", str(base), "--to", str(to)).returncode == 0
    assert cli("baseline", "update", str(same), "--to", str(to)).returncode == 0
    assert to.read_bytes() == same.read_bytes()


def test_baseline_update_refuses_incomplete_or_invalid_profiles(cli, drafting_files, tmp_path):
    base, _, _ = drafting_files
    to = tmp_path / "baseline.json"
    data = json.loads(base.read_text())
    data["interrupted"] = True
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps(data))
    result = cli("baseline", "update", str(partial), "--to", str(to))
    assert result.returncode == 2 and "interrupted" in _one_error_line(result.stderr)
    data["interrupted"], data["schema_version"] = False, 9
    partial.write_text(json.dumps(data))
    assert cli("baseline", "update", str(partial), "--to", str(to)).returncode == 2
    assert not to.exists()
