"""Run a vendor command-line tool (vcgencmd, nvpmodel) and return its output; tests inject fakes."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

#: argv -> stdout; raises OSError (not installed) or subprocess.SubprocessError (failed, timed out).
CommandRunner = Callable[[list[str]], str]


def run_command(argv: list[str], timeout_s: float = 5.0) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=True)
    return done.stdout
