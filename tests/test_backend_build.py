"""The llama-cpp-python build for this CPU: flags per architecture, a cache keyed by what changes
the binary, pip's own wheel cache bypassed, and a no-op when the right build is installed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from configspec import backend_build as bb


def test_x86_64_gets_no_amx_flags_for_c_and_cxx():
    args = bb.our_cmake_args("x86_64")
    assert "-DCMAKE_C_FLAGS='-mno-amx-tile -mno-amx-int8 -mno-amx-bf16'" in args
    assert "-DCMAKE_CXX_FLAGS='-mno-amx-tile -mno-amx-int8 -mno-amx-bf16'" in args


@pytest.mark.parametrize("machine", ["aarch64", "arm64", "riscv64"])
def test_other_architectures_keep_the_native_build(machine):
    # aarch64 GCC rejects -mno-amx-*: Raspberry Pi 5 and Jetson must get no such flag
    assert bb.our_cmake_args(machine) == ""


def test_the_users_cmake_args_come_first_and_are_kept():
    args = bb.cmake_args("x86_64", user_args="-DGGML_CUDA=on")
    assert args.startswith("-DGGML_CUDA=on ")
    assert "-mno-amx-int8" in args
    assert bb.cmake_args("aarch64", user_args="-DGGML_CUDA=on") == "-DGGML_CUDA=on"


def _spec(**changes) -> bb.BuildSpec:
    base = dict(
        version="0.3.36",
        machine="x86_64",
        python="cpython-311",
        cmake_args=bb.our_cmake_args("x86_64"),
        cpu="flags: avx2 amx_tile",
        compiler="gcc 12",
    )
    return bb.BuildSpec(**{**base, **changes})  # fmt: skip


@pytest.mark.parametrize("field", ["version", "machine", "python", "cmake_args", "cpu", "compiler"])
def test_every_input_of_the_build_changes_the_cache_key(field):
    assert _spec().key != _spec(**{field: "other"}).key


def test_cpu_signature_is_one_core_with_its_flags():
    text = bb.cpu_signature()
    if Path("/proc/cpuinfo").is_file():
        assert text.count("model name") <= 1 and text.count("flags") <= 1


class FakePip:
    """Stands in for `python -m pip`: `wheel` writes a wheel file, `install` records it."""

    def __init__(self, monkeypatch):
        self.calls: list[tuple[list[str], dict]] = []
        monkeypatch.setattr(bb.subprocess, "run", self)

    def __call__(self, command, env=None, **kwargs):
        self.calls.append((command, env or {}))
        if command[3] == "wheel":
            out = Path(command[command.index("-w") + 1])
            (out / "llama_cpp_python-0.3.36-py3-none-linux_x86_64.whl").write_bytes(b"wheel")
        return subprocess.CompletedProcess(command, 0, "", "")

    def verbs(self) -> list[str]:
        return [c[3] for c, _ in self.calls]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CONFIGSPEC_CACHE", str(tmp_path))
    monkeypatch.setattr(bb, "compiler_version", lambda: "gcc 12")
    return tmp_path


def test_first_install_builds_without_pips_cache_then_installs_that_wheel(cache, monkeypatch):
    pip = FakePip(monkeypatch)
    monkeypatch.setattr(bb, "installed_from", lambda: "index")  # PyPI's build is installed
    wheel = bb.ensure_installed(log=lambda *_: None)
    assert pip.verbs() == ["wheel", "install"]
    build, env = pip.calls[0]
    assert "--no-cache-dir" in build  # a wheel built once with AMX is never handed back
    assert env["CMAKE_ARGS"] == bb.cmake_args()
    assert wheel.parent == bb.BuildSpec.here().folder
    assert json.loads((wheel.parent / "build.json").read_text())["cmake_args"] == bb.cmake_args()
    install, _ = pip.calls[1]
    assert "--force-reinstall" in install and str(wheel) in install


def test_a_cached_build_is_installed_without_building_again(cache, monkeypatch):
    pip = FakePip(monkeypatch)
    monkeypatch.setattr(bb, "installed_from", lambda: "index")
    bb.ensure_installed(log=lambda *_: None)
    pip.calls.clear()
    bb.ensure_installed(log=lambda *_: None)
    assert pip.verbs() == ["install"]


def test_nothing_to_do_when_our_wheel_is_installed(cache, monkeypatch):
    pip = FakePip(monkeypatch)
    monkeypatch.setattr(bb, "installed_from", lambda: "index")
    wheel = bb.ensure_installed(log=lambda *_: None)
    monkeypatch.setattr(bb, "installed_from", lambda: wheel.as_uri())
    pip.calls.clear()
    bb.ensure_installed(log=lambda *_: None)
    assert pip.calls == []


def test_rebuild_builds_even_when_cached(cache, monkeypatch):
    pip = FakePip(monkeypatch)
    monkeypatch.setattr(bb, "installed_from", lambda: "index")
    bb.ensure_installed(log=lambda *_: None)
    pip.calls.clear()
    bb.ensure_installed(rebuild=True, log=lambda *_: None)
    assert pip.verbs() == ["wheel", "install"]


def test_a_failed_build_leaves_no_cached_folder(cache, monkeypatch):
    def failing(command, env=None, **kwargs):
        return subprocess.CompletedProcess(command, 1, "", "")

    monkeypatch.setattr(bb.subprocess, "run", failing)
    with pytest.raises(SystemExit, match="building llama-cpp-python failed"):
        bb.ensure_installed(log=lambda *_: None)
    assert bb.cached_wheel(bb.BuildSpec.here()) is None


def test_the_installed_build_here_is_configspecs_own():
    """The environment the tests run in was installed by ./install.sh (README, .ci/run)."""
    assert bb.is_ours(bb.BuildSpec.here()), (
        f"llama-cpp-python comes from {bb.installed_from()}; install with ./install.sh"
    )
