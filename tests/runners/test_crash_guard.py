"""A native crash of llama.cpp becomes one line and exit 2; a passing probe is remembered."""

from __future__ import annotations

import sys

import pytest

from configspec.errors import ConfigspecError
from configspec.runners import crash_guard


def _dies_by(signal_name: str) -> list[str]:
    code = f"import os, signal; os.kill(os.getpid(), signal.{signal_name})"
    return [sys.executable, "-c", code]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CONFIGSPEC_CACHE", str(tmp_path / "cache"))
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF not really")
    return model


@pytest.mark.parametrize("name", ["SIGILL", "SIGSEGV"])
def test_a_child_killed_by_a_signal_is_reported_by_name(name, cache):
    result = crash_guard.run_probe(cache, 1, _dies_by(name))
    assert not result.ok and result.signal_name == name


@pytest.mark.parametrize(("name", "words"), [("SIGILL", "illegal instruction"),
                                             ("SIGSEGV", "segmentation fault")])  # fmt: skip
def test_a_crash_is_one_line_naming_the_fix(name, words, cache, monkeypatch):
    monkeypatch.setattr(crash_guard, "child_command", lambda model, threads: _dies_by(name))
    with pytest.raises(ConfigspecError) as info:
        crash_guard.ensure_llama_cpp_runs(cache, 2)
    message = str(info.value)
    assert "\n" not in message
    assert name in message and words in message and "model.gguf" in message
    assert "python -m configspec.backend_build --rebuild" in message
    assert info.value.exit_code == 2
    assert crash_guard.probe_passed(cache) is None  # a crash is never remembered as a pass


def test_a_crash_in_a_command_exits_2_with_one_line(cache, monkeypatch, capsys):
    """The whole command path: open_runner probes first, main() prints one line, exit 2."""
    from configspec import cli
    from configspec.runners import open_runner

    monkeypatch.setattr(crash_guard, "child_command", lambda model, threads: _dies_by("SIGILL"))

    def command() -> None:
        open_runner("llama_cpp", cache, threads=1)

    monkeypatch.setattr(cli, "app", command)
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("configspec: error: llama.cpp crashed (SIGILL")


def test_a_passing_probe_is_remembered_and_not_run_again(cache, monkeypatch):
    runs = []

    def ok_command(model, threads):
        runs.append(model)
        return [sys.executable, "-c", "pass"]

    monkeypatch.setattr(crash_guard, "child_command", ok_command)
    crash_guard.ensure_llama_cpp_runs(cache, 2)
    crash_guard.ensure_llama_cpp_runs(cache, 2)
    assert len(runs) == 1 and crash_guard.probe_passed(cache)


def test_a_failure_without_a_crash_is_left_to_the_real_load(cache, monkeypatch):
    """A child that exits 1 (say, a corrupt file) raises nothing here and is not remembered:
    the runner's own load in the parent gives the precise error."""
    monkeypatch.setattr(crash_guard, "child_command",
                        lambda model, threads: [sys.executable, "-c", "raise SystemExit(1)"])  # fmt: skip
    crash_guard.ensure_llama_cpp_runs(cache, 2)
    assert crash_guard.probe_passed(cache) is None


def test_a_rebuilt_library_is_probed_again(cache, monkeypatch):
    runs = []
    monkeypatch.setattr(crash_guard, "child_command",
                        lambda model, threads: runs.append(1) or [sys.executable, "-c", "pass"])  # fmt: skip
    crash_guard.ensure_llama_cpp_runs(cache, 2)
    monkeypatch.setattr(crash_guard, "build_fingerprint", lambda: {"libraries": ["rebuilt"]})
    crash_guard.ensure_llama_cpp_runs(cache, 2)
    assert len(runs) == 2


@pytest.mark.real_model
def test_the_real_probe_passes_on_the_demo_draft(demo_draft_path, tmp_path, monkeypatch):
    monkeypatch.setenv("CONFIGSPEC_CACHE", str(tmp_path))
    result = crash_guard.run_probe(demo_draft_path, 2)
    assert result.ok, result.detail
    crash_guard.ensure_llama_cpp_runs(demo_draft_path, 2)
    assert crash_guard.probe_passed(demo_draft_path)
