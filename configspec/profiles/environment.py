"""Where a figure came from: device, hardware, software, date."""

from __future__ import annotations

import datetime as dt
import socket

from pydantic import BaseModel

import configspec
from device_profilers import describe_host


class Environment(BaseModel):
    device: str  # user-chosen name; defaults to the hostname
    hostname: str
    cpu_model: str
    board_model: str | None = None
    cpu_logical_cores: int | None = None
    ram_bytes: int | None = None
    os: str
    machine: str
    python: str
    threads: int
    backend: str
    backend_version: str
    configspec_version: str
    date_utc: str

    @classmethod
    def capture(cls, device: str | None, threads: int, backend: str, backend_version: str):
        host = describe_host()
        return cls(
            device=device or socket.gethostname(), threads=threads, backend=backend,
            backend_version=backend_version, configspec_version=configspec.__version__,
            date_utc=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **host,
        )  # fmt: skip
