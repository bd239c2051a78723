"""What commands print: tables and JSON go to stdout, so they can be piped and redirected;
progress bars, log lines and warnings go to stderr (configspec/progress.py)."""

from __future__ import annotations

import json
import sys

from rich.console import Console

# Wide enough for tables when output goes to a file or a pipe (rich assumes 80 columns there).
stdout = Console(width=None if sys.stdout.isatty() else 140)


def print_json(data: object) -> None:
    """One JSON document on stdout (for --json)."""
    sys.stdout.write(json.dumps(data, indent=2) + "\n")
    sys.stdout.flush()
