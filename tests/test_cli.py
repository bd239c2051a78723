"""The command line: help everywhere, one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from configspec.cli import app
from tests.conftest import ROOT


def run_cli(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "configspec", *args], cwd=cwd, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def _command_paths(group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and command group of the CLI, read from the app itself."""
    paths = [prefix]
    for name, command in sorted(getattr(group, "commands", {}).items()):
        paths += _command_paths(command, (*prefix, name))
    return paths


COMMANDS = _command_paths(typer.main.get_command(app))


def test_the_help_test_sees_every_command():
    names = {" ".join(c) for c in COMMANDS}
    assert {"run", "recommend", "report", "compare", "models list", "baseline update"} <= names


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "configspec")
def test_every_command_has_help(command):
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output and "Traceback" not in result.output


def test_models_list_shows_the_demo_pair_on_stdout_and_as_json():
    result = run_cli("models", "list")
    assert result.returncode == 0, result.stderr
    assert "qwen2.5-coder-0.5b" in result.stdout
    as_json = run_cli("models", "list", "--json")
    names = [m["name"] for m in json.loads(as_json.stdout)["models"]]
    assert names[:2] == ["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"]


def test_devices_as_json():
    result = run_cli("devices", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {"label": "power meter", "text": rows[[r["label"] for r in rows].index("power meter")]
            ["text"]} in rows and all(set(r) == {"label", "text"} for r in rows)  # fmt: skip


def test_bad_registry_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "models.yaml"
    bad.write_text("schema_version: 1\nmodels:\n  - name: x\n    role: drafty\n")
    result = run_cli("models", "list", "--models", str(bad))
    assert result.returncode == 2
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "configspec: error:" in lines[0]
    assert "Traceback" not in result.stderr


def test_unknown_quant_for_profile_is_exit_2(tmp_path):
    result = run_cli("profile", "--quants", "Q3_K_S", "--out", str(tmp_path / "p.json"))
    assert result.returncode == 2
    assert "no draft x quantization matches" in result.stderr
    assert not (tmp_path / "p.json").exists()


def test_unknown_draft_is_exit_2():
    result = run_cli("profile", "--drafts", "nope")
    assert result.returncode == 2
    assert "no model named 'nope'" in result.stderr


def test_run_numbers_every_step(monkeypatch):
    """`configspec run` announces each step as n/N, all of them."""
    from configspec import pipeline

    seen: list[str] = []
    monkeypatch.setattr(pipeline.console, "rule", seen.append)
    steps = [(title, lambda o: None) for title, _ in pipeline.STEPS]
    monkeypatch.setattr(pipeline, "STEPS", steps)
    pipeline.run_pipeline(pipeline.RunOptions())
    assert [s.split(" ", 1)[0] for s in seen] == ["1/6", "2/6", "3/6", "4/6", "5/6", "6/6"]
    assert [s.split(" ", 1)[1] for s in seen][-2:] == ["recommend", "report"]
