"""Progress bars on stderr (rich), so long steps show they are alive."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)  # fmt: skip

# Wide enough for tables when output goes to a file or CI log (rich assumes 80 columns there).
console = Console(stderr=True, width=None if sys.stderr.isatty() else 140)


def _bars(transient: bool = False) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), console=console, transient=transient,
    )  # fmt: skip


@contextmanager
def byte_progress(progress: Progress | None = None) -> Iterator:
    """A factory `(description, total_bytes) -> advance(n)` for file assembly and hashing.

    Pass an open `progress` to add the bars to it (rich shows one live display at a time).
    """
    if progress is not None:
        yield _byte_factory(progress)
        return
    with _bars(transient=True) as own:
        yield _byte_factory(own)


def _byte_factory(progress: Progress):
    def factory(description: str, total: int):
        task = progress.add_task(description, total=total)
        return lambda n: progress.advance(task, n)

    return factory


@contextmanager
def step_progress(description: str, total: int) -> Iterator:
    """A bar over `total` steps; yields (advance(), set_description(text), progress)."""
    with _bars() as progress:
        task = progress.add_task(description, total=total)
        yield (
            lambda: progress.advance(task),
            lambda text: progress.update(task, description=text),
            progress,
        )


def exit_interrupted(kept: int, what: str, out, nothing: str) -> NoReturn:
    """Ctrl-C during a sweep: say what the profile (saved after every step) kept; exit 130."""
    message = f"kept {kept} {what} in {out}" if kept else f"{nothing}; no file written"
    console.print(f"[yellow]interrupted:[/yellow] {message}")
    raise typer.Exit(130) from None
