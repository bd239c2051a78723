"""`configspec serve` as a child process: loopback only, bounded by --duration-s, stopped by its
process id. For benchmarks and tests that need a real server with given batching settings."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from configspec.errors import ConfigspecError

START_TIMEOUT_S = 600.0  # loading the target on a busy 2-core machine takes a while


@dataclass
class LocalServer:
    workdir: Path
    models: Path = Path("models.yaml")
    threads: int = 1
    max_sessions: int = 64
    max_batch: int = 8
    batch_window_ms: float = 5.0
    prefill_chunk: int = 64
    ctx: int = 512
    duration_s: float = 3600.0  # it stops by itself after this, whatever happens here
    cpus: str | None = None  # taskset CPU list, e.g. "0"

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port_file = self.workdir / "serve.port"
        self.profile = self.workdir / "serving.json"
        self.log = self.workdir / "serve.log"
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        pin = ["taskset", "-c", self.cpus] if self.cpus else []
        return [*pin, sys.executable, "-m", "configspec", "serve", "--models", str(self.models),
                "--host", "127.0.0.1", "--port", "0", "--port-file", str(self.port_file),
                "--threads", str(self.threads), "--max-sessions", str(self.max_sessions),
                "--max-batch", str(self.max_batch), "--batch-window-ms", f"{self.batch_window_ms:g}",
                "--prefill-chunk", str(self.prefill_chunk), "--ctx", str(self.ctx),
                "--duration-s", f"{self.duration_s:g}", "--log-every-s", "0",
                "--out", str(self.profile)]  # fmt: skip

    def __enter__(self) -> LocalServer:
        self.port_file.unlink(missing_ok=True)
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (self.port_file.exists() and self.port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log.read_text().strip().splitlines()[-1:] or ["no output"]
                raise ConfigspecError(f"configspec serve did not start: {tail[0]}")
            time.sleep(0.2)
        return self

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port_file.read_text().strip()}"

    def stop(self) -> None:
        """SIGTERM (the server writes its profile), then SIGKILL if it does not go."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def __exit__(self, *exc) -> None:
        self.stop()
