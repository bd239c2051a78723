"""Run llama.cpp's first real call in a child process, so a native crash becomes one clear line.

A llama-cpp-python built for instructions this CPU cannot run (on Intel Xeons: ggml's AMX kernels,
compiled in by -march=native) kills the whole process with SIGILL at the first matrix
multiplication, before Python can say anything. So before a command loads a model file for real,
a short child process loads the same file and decodes a few tokens; if the child dies by a
signal, the parent prints what happened and the command that fixes it, and exits 2. A probe that
passed is remembered per build (library files), CPU and model file, so it costs nothing after the
first run (docs/install.md).
"""

from __future__ import annotations

import hashlib
import json
import platform
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from configspec.atomic_io import write_json_atomic
from configspec.backend_build import cpu_signature, fix_command
from configspec.errors import ConfigspecError
from configspec.sources.cache import cache_dir

PROBE_TIMEOUT_S = 600  # loading a large model from a slow disk can take minutes


def library_files() -> list[Path]:
    """llama-cpp-python's native libraries (libllama, libggml*): the build being probed."""
    import llama_cpp

    lib = Path(llama_cpp.__file__).parent / "lib"
    return sorted(p for p in lib.glob("*.so*") if p.is_file()) if lib.is_dir() else []


def build_fingerprint() -> dict:
    import llama_cpp

    return {
        "llama_cpp_python": llama_cpp.__version__,
        "machine": platform.machine(),
        "cpu": cpu_signature(),
        "libraries": [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in library_files()],
    }


def _probe_record(model: Path) -> Path:
    stat = model.stat()
    text = json.dumps(
        [build_fingerprint(), str(model.resolve()), stat.st_size, stat.st_mtime_ns], sort_keys=True
    )
    return cache_dir() / "probes" / f"{hashlib.sha256(text.encode()).hexdigest()[:24]}.json"


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    returncode: int
    detail: str  # the child's last stderr line, or why it failed

    @property
    def signal_name(self) -> str | None:
        if self.returncode >= 0:
            return None
        try:
            return signal.Signals(-self.returncode).name
        except ValueError:
            return f"signal {-self.returncode}"


def child_command(model: Path, threads: int) -> list[str]:
    return [sys.executable, "-m", "configspec.runners.crash_guard", str(model), str(threads)]


def run_probe(model: Path, threads: int, command: list[str] | None = None) -> ProbeResult:
    """Load `model` and decode a few tokens in a child process; how it ended."""
    command = command or child_command(model, threads)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return ProbeResult(False, 0, f"no answer within {PROBE_TIMEOUT_S} s")
    lines = [line for line in (done.stderr or "").splitlines() if line.strip()]
    return ProbeResult(done.returncode == 0, done.returncode, lines[-1] if lines else "")


SIGNAL_MEANING = {
    "SIGILL": "illegal instruction",
    "SIGSEGV": "segmentation fault",
    "SIGBUS": "bus error",
    "SIGABRT": "aborted",
    "SIGFPE": "arithmetic fault",
    "SIGKILL": "killed, often by the kernel's out-of-memory killer",
}


def crash_message(model: Path, result: ProbeResult) -> str:
    name = result.signal_name or f"exit {result.returncode}"
    meaning = SIGNAL_MEANING.get(name, "")
    what = f"{name}, {meaning}" if meaning else name
    if name == "SIGILL":
        why = ("the installed llama-cpp-python uses CPU instructions this machine cannot run "
               "(on Intel Xeons: ggml's AMX kernels, compiled in by -march=native)")  # fmt: skip
    elif name == "SIGKILL":
        why = "the machine may not have the memory for this model"
    else:
        why = "the installed llama-cpp-python build may not suit this machine"
    return (f"llama.cpp crashed ({what}) in its first call on {model.name}: {why}; fix: "
            f"{fix_command()} (then `configspec doctor`; docs/install.md)")  # fmt: skip


def ensure_llama_cpp_runs(model: Path, threads: int) -> None:
    """Probe `model` once per build, CPU and file; raise a one-line ConfigspecError on a crash."""
    model = Path(model)
    if not model.is_file():
        return  # the runner itself says the file is missing
    record = _probe_record(model)
    if record.is_file():
        return
    result = run_probe(model, threads)
    if result.returncode < 0:
        raise ConfigspecError(crash_message(model, result))
    if not result.ok:
        # The child failed without a crash (bad file, out of memory in Python): the real load in
        # this process gives the precise error, so do not remember this probe.
        return
    write_json_atomic(record, {"model": str(model), "passed": True, **build_fingerprint()})


def probe_passed(model: Path) -> bool | None:
    """True if a probe of `model` on this build passed before; None if never probed."""
    return True if _probe_record(Path(model)).is_file() else None


def _child(model: str, threads: int) -> None:
    """The child: load, prefill 8 tokens in one batch, decode 4 tokens one at a time."""
    import numpy as np

    from configspec.runners.llama_cpp import LlamaCppRunner

    with LlamaCppRunner(Path(model), threads=threads, n_ctx=64) as runner:
        tokens = runner.tokenize("def fibonacci(n):\n    return", add_special=True)[:8]
        logits = runner.forward(tokens)
        for _ in range(4):
            logits = runner.forward([int(np.argmax(logits))])


if __name__ == "__main__":
    _child(sys.argv[1], int(sys.argv[2]))
