"""Build llama-cpp-python for this CPU, once, into configspec's own wheel cache, and install it.

Why not a plain `pip install llama-cpp-python`: it compiles ggml with -march=native, which on Intel
Xeons with AMX compiles ggml's AMX kernels, and those die with SIGILL on such machines
(docs/install.md). On x86-64 we keep -march=native and add GCC's -mno-amx-* flags, which win over
it in either order; elsewhere (aarch64: Raspberry Pi 5, Jetson) the native build is kept as is.
pip's wheel cache does not know about CMAKE_ARGS, so a wheel built once the wrong way would be
handed back forever: we build with --no-cache-dir into a folder keyed by everything that changes
the binary (version, flags, CPU, compiler, Python), and install that wheel.

Standard library only: `./install.sh` runs `python -m configspec.backend_build` before any of
configspec's dependencies are installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from configspec.sources.cache import cache_dir

LLAMA_CPP_PYTHON_VERSION = "0.3.36"  # the version pyproject.toml pins
NO_AMX_FLAGS = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
X86_64 = ("x86_64", "amd64")


def our_cmake_args(machine: str | None = None) -> str:
    """The CMake arguments configspec adds for this architecture ('' where native is safe)."""
    machine = (machine or platform.machine()).lower()
    if machine in X86_64:
        return f"-DCMAKE_C_FLAGS='{NO_AMX_FLAGS}' -DCMAKE_CXX_FLAGS='{NO_AMX_FLAGS}'"
    return ""


def cmake_args(machine: str | None = None, user_args: str | None = None) -> str:
    """The user's own CMAKE_ARGS (e.g. -DGGML_CUDA=on on a Jetson), then ours."""
    user_args = os.environ.get("CMAKE_ARGS", "") if user_args is None else user_args
    return " ".join(a for a in (user_args.strip(), our_cmake_args(machine)) if a)


def cpu_signature() -> str:
    """The CPU model and its feature flags: a native build is only valid on the same features."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return platform.processor() or platform.machine()
    keep: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "flags", "Features", "CPU part", "CPU implementer"):
            if key in keep:  # the second core begins; all cores of one machine match
                break
            keep[key] = " ".join(value.split())
    return "\n".join(f"{k}: {v}" for k, v in keep.items())


def compiler_version() -> str:
    compiler = os.environ.get("CC") or "cc"
    try:
        out = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30)
        return out.stdout.splitlines()[0] if out.stdout else compiler
    except (OSError, subprocess.SubprocessError):
        return f"{compiler} (not found)"


@dataclass(frozen=True)
class BuildSpec:
    """Everything that changes the compiled library; its hash names the wheel folder."""

    version: str
    machine: str
    python: str
    cmake_args: str
    cpu: str
    compiler: str

    @classmethod
    def here(cls) -> BuildSpec:
        return cls(
            version=LLAMA_CPP_PYTHON_VERSION, machine=platform.machine(),
            python=sys.implementation.cache_tag or platform.python_version(),
            cmake_args=cmake_args(), cpu=cpu_signature(), compiler=compiler_version(),
        )  # fmt: skip

    @property
    def key(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def folder(self) -> Path:
        return cache_dir() / "wheels" / f"llama-cpp-python-{self.version}-{self.key}"


def cached_wheel(spec: BuildSpec) -> Path | None:
    wheels = sorted(spec.folder.glob("llama_cpp_python-*.whl")) if spec.folder.is_dir() else []
    return wheels[0] if wheels else None


def build_wheel(spec: BuildSpec, log=print) -> Path:
    """`pip wheel` from the sdist with our flags, bypassing pip's cache; ~6 min on 2 cores."""
    log(f"building llama-cpp-python {spec.version} for this CPU (once; about 5-10 minutes on "
        f"2 cores) with CMAKE_ARGS={spec.cmake_args or '(none)'}")  # fmt: skip
    spec.folder.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, CMAKE_ARGS=spec.cmake_args, FORCE_CMAKE="1")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=spec.folder.parent) as tmp:
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir",
                   "--no-binary", "llama-cpp-python", "--quiet", "-w", tmp,
                   f"llama-cpp-python=={spec.version}"]  # fmt: skip
        done = subprocess.run(command, env=env)
        wheels = list(Path(tmp).glob("llama_cpp_python-*.whl"))
        if done.returncode != 0 or not wheels:
            raise SystemExit(
                f"configspec: error: building llama-cpp-python failed (exit {done.returncode}); "
                "it needs a C/C++ compiler and cmake (Debian: apt install build-essential cmake)"
            )
        (Path(tmp) / "build.json").write_text(json.dumps(asdict(spec), indent=1) + "\n")
        if spec.folder.exists():
            shutil.rmtree(spec.folder)
        Path(tmp).rename(spec.folder)  # atomic: a half-built folder is never seen as cached
        Path(tmp).mkdir()  # TemporaryDirectory removes it on exit
    log(f"built in {time.monotonic() - started:.0f} s: {spec.folder}")
    return cached_wheel(spec)  # type: ignore[return-value]


def installed_from() -> str | None:
    """Where the installed llama-cpp-python came from: the file URL of the wheel pip installed
    (PEP 610 direct_url.json), 'index' for a package resolved from an index, None if absent."""
    from importlib import metadata

    try:
        dist = metadata.distribution("llama_cpp_python")
    except metadata.PackageNotFoundError:
        return None
    direct = dist.read_text("direct_url.json")
    if not direct:
        return "index"
    return json.loads(direct).get("url", "index")


def is_ours(spec: BuildSpec) -> bool:
    """Is the installed llama-cpp-python the wheel configspec built for this CPU?"""
    wheel = cached_wheel(spec)
    source = installed_from()
    return (
        wheel is not None
        and source is not None
        and source.endswith("/" + wheel.name)
        and (str(spec.folder) in source)
    )


def ensure_installed(rebuild: bool = False, log=print) -> Path:
    """Build (once) and install the wheel for this CPU; a no-op when it is already installed."""
    spec = BuildSpec.here()
    wheel = None if rebuild else cached_wheel(spec)
    if wheel is None:
        wheel = build_wheel(spec, log)
    elif is_ours(spec):
        log(
            f"llama-cpp-python {spec.version} built for this CPU is installed ({wheel.parent.name})"
        )
        return wheel
    log(f"installing {wheel.name} built for this CPU")
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--force-reinstall", "--no-deps",
               str(wheel)]  # fmt: skip
    if subprocess.run(command).returncode != 0:
        raise SystemExit(f"configspec: error: pip could not install {wheel}")
    return wheel


def fix_command() -> str:
    """The one command that replaces a wrongly built llama-cpp-python (quoted in crash messages)."""
    return "python -m configspec.backend_build --rebuild"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m configspec.backend_build",
        description="Build llama-cpp-python for this CPU (no AMX kernels on x86-64) and install it.",
    )
    parser.add_argument("--rebuild", action="store_true", help="Build again even if cached.")
    parser.add_argument("--print-cmake-args", action="store_true",
                        help="Print the CMAKE_ARGS this machine gets and exit.")  # fmt: skip
    args = parser.parse_args(argv)
    if args.print_cmake_args:
        print(cmake_args())
        return
    ensure_installed(rebuild=args.rebuild)


if __name__ == "__main__":
    main()
