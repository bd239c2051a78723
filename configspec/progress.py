"""Progress bars on stderr (rich), so long steps show they are alive."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)  # fmt: skip

# Wide enough for tables when output goes to a file or CI log (rich assumes 80 columns there).
console = Console(stderr=True, width=None if sys.stderr.isatty() else 140)


@contextmanager
def byte_progress() -> Iterator:
    """A factory `(description, total_bytes) -> advance(n)` for file assembly and hashing."""
    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
        console=console, transient=True,
    ) as progress:  # fmt: skip

        def factory(description: str, total: int):
            task = progress.add_task(description, total=total)
            return lambda n: progress.advance(task, n)

        yield factory


@contextmanager
def step_progress(description: str, total: int) -> Iterator:
    """A bar over `total` steps; yields (advance(), set_description(text))."""
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), console=console,
    ) as progress:  # fmt: skip
        task = progress.add_task(description, total=total)
        yield (
            lambda: progress.advance(task),
            lambda text: progress.update(task, description=text),
        )
