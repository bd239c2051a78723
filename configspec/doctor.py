"""`configspec doctor`: is the inference backend built right for this machine, and does it run?"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

from configspec.backend_build import BuildSpec, cached_wheel, fix_command, installed_from, is_ours

# ggml features that matter for speed and for crashes, as llama_print_system_info names them;
# those of this architecture are listed even when absent (ggml prints only what it has).
FEATURES = {
    "x86_64": ("AVX", "AVX2", "FMA", "AVX512", "AVX512_VNNI", "AVX512_BF16", "AMX_INT8"),
    "aarch64": ("NEON", "DOTPROD", "SVE", "MATMUL_INT8"),
}
COMMON_FEATURES = ("OPENMP", "REPACK", "LLAMAFILE")
# /proc/cpuinfo flags that tell whether the CPU has what a feature needs.
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "amx_tile", "amx_int8", "asimd", "sve")


def system_info() -> str:
    import llama_cpp

    return llama_cpp.llama_print_system_info().decode(errors="replace").strip()


def compiled_features(info: str, machine: str | None = None) -> dict[str, bool]:
    """{'AVX2': True, 'AMX_INT8': False, ...} from llama_print_system_info's 'NAME = 1' pairs."""
    found = {name: value == "1" for name, value in re.findall(r"([A-Z0-9_]+) = (\d)", info)}
    machine = (machine or platform.machine()).lower().replace("amd64", "x86_64")
    names = FEATURES.get(machine.replace("arm64", "aarch64"), ()) + COMMON_FEATURES
    return {name: found.get(name, False) for name in names}


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def build_origin() -> str:
    """Who built the installed llama-cpp-python, in words."""
    spec = BuildSpec.here()
    source = installed_from()
    if source is None:
        return "not installed"
    if is_ours(spec):
        return f"configspec's build for this CPU ({spec.folder})"
    wheel = cached_wheel(spec)
    note = f"; a build for this CPU is cached: {fix_command()}" if wheel else ""
    origin = "a package index" if source == "index" else source
    return f"installed from {origin}, not configspec's build for this CPU{note}"


def doctor_rows(probe_model: Path | None, threads: int) -> tuple[list[tuple[str, str]], bool]:
    """(label, text) rows and whether everything is fine."""
    import llama_cpp

    from configspec.runners.crash_guard import ensure_llama_cpp_runs, probe_passed

    ok = True
    info = system_info()
    features = compiled_features(info)
    flags = cpu_flags()
    rows = [
        ("backend", f"llama-cpp-python {llama_cpp.__version__}"),
        ("built by", build_origin()),
        ("system info", info),
        ("compiled in", ", ".join(f"{k}={'yes' if v else 'no'}" for k, v in features.items())),
        ("CPU flags", ", ".join(f for f in CPU_FLAGS if f in flags) or "none of " +
         ", ".join(CPU_FLAGS)),
        ("threads", f"{os.cpu_count()} logical cores; configspec defaults to {threads} threads"),
    ]  # fmt: skip
    if features.get("AMX_INT8"):
        ok = False
        rows.append(("warning", "ggml's AMX kernels are compiled in; they crash with SIGILL on "
                     f"some Xeon VMs: {fix_command()}"))  # fmt: skip
    if features.get("AVX512") and "avx512f" not in flags:
        ok = False
        rows.append(("warning", f"built with AVX-512 but this CPU has none: {fix_command()}"))
    if probe_model is None:
        rows.append(("probe", "no model file found to probe with (configspec models prepare)"))
        return rows, ok
    before = probe_passed(probe_model)
    try:
        ensure_llama_cpp_runs(probe_model, threads)
    except Exception as exc:  # ConfigspecError from a crash: print it as the probe's result
        ok = False
        rows.append(("probe", f"FAILED on {probe_model.name}: {exc}"))
        return rows, ok
    if probe_passed(probe_model):
        when = "passed before (cached)" if before else "passed now"
        rows.append(("probe", f"{when}: load + 12 tokens of {probe_model.name} in a child process"))
    else:
        ok = False
        rows.append(("probe", f"did not finish on {probe_model.name} (not a crash; see the error "
                     "when a command loads it)"))  # fmt: skip
    return rows, ok


def smallest_model_file() -> Path | None:
    """The smallest GGUF in configspec's cache (assembled or derived): the fastest to probe."""
    from configspec.sources.cache import cache_dir

    files = [p for p in cache_dir().rglob("*.gguf") if p.is_file()]
    return min(files, key=lambda p: p.stat().st_size) if files else None
