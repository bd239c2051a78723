"""llama.cpp's own tools (llama-bench, llama-speculative-simple), built from the llama.cpp that the
installed llama-cpp-python vendors, with the same compiler flags as configspec's wheel build
(configspec/backend_build.py), so that both sides of a comparison run the same ggml.

Built once into the user cache (~5 minutes on 2 cores), never into the repository:
    python benchmarks/llama_tools.py            # build (or find) and print the tools' paths
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from configspec.backend_build import BuildSpec
from configspec.sources.cache import cache_dir

TOOLS = ("llama-bench", "llama-speculative-simple")


def tools_dir(spec: BuildSpec | None = None) -> Path:
    spec = spec or BuildSpec.here()
    return cache_dir() / "llama.cpp-tools" / f"{spec.version}-{spec.key}"


def _cmake_defines(cmake_args: str) -> list[str]:
    """CMAKE_ARGS as a shell would split them: -DCMAKE_C_FLAGS='-mno-amx-tile ...' stays one."""
    return shlex.split(cmake_args)


def build_tools(spec: BuildSpec | None = None, log=print) -> Path:
    """Download the llama-cpp-python sdist, build its vendored llama.cpp's tools; the bin folder."""
    spec = spec or BuildSpec.here()
    out = tools_dir(spec)
    if all((out / "bin" / t).is_file() for t in TOOLS):
        return out / "bin"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        log(f"downloading the llama-cpp-python {spec.version} sdist (its vendored llama.cpp)")
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--no-binary", ":all:", f"llama-cpp-python=={spec.version}", "-d", tmp],
                       check=True)  # fmt: skip
        sdist = next(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        with tarfile.open(sdist) as archive:
            archive.extractall(tmp, filter="data")
        source = next(Path(tmp).glob("llama_cpp_python-*/vendor/llama.cpp"))
        build = Path(tmp) / "build"
        log(f"building {', '.join(TOOLS)} with {spec.cmake_args or 'default flags'} (~5 min)")
        subprocess.run(["cmake", "-S", str(source), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                        "-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DBUILD_SHARED_LIBS=OFF",
                        *_cmake_defines(spec.cmake_args)], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        subprocess.run(["cmake", "--build", str(build), "-j2", "--target", *TOOLS], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        (out / "bin").mkdir(exist_ok=True)
        for tool in TOOLS:
            (build / "bin" / tool).rename(out / "bin" / tool)
    return out / "bin"


def tool(name: str) -> Path:
    return build_tools() / name


if __name__ == "__main__":
    for name in TOOLS:
        print(tool(name))
