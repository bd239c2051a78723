"""The command line: help everywhere, one-line errors with exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


def run_cli(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "configspec", *args], cwd=cwd, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize("command", [[], ["models"], ["models", "list"], ["models", "prepare"],
                                     ["profile"], ["devices"], ["doctor"], ["run"]])  # fmt: skip
def test_every_command_has_help(command):
    result = run_cli(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_models_list_shows_the_demo_pair():
    result = run_cli("models", "list")
    assert result.returncode == 0, result.stderr
    assert "qwen2.5-coder-0.5b" in result.stderr + result.stdout


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
