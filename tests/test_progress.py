"""What a Ctrl-C during a sweep prints, and its exit status (130, as the shell's own)."""

from __future__ import annotations

import pytest
import typer

from configspec.progress import console, exit_interrupted


@pytest.mark.parametrize(
    ("kept", "expected"),
    [(2, "interrupted: kept 2 measured cell(s) in out.json"),
     (0, "interrupted: nothing measured yet; no file written")],
)  # fmt: skip
def test_exit_interrupted_says_what_was_kept(kept, expected):
    with console.capture() as captured, pytest.raises(typer.Exit) as stop:
        exit_interrupted(kept, "measured cell(s)", "out.json", "nothing measured yet")
    assert stop.value.exit_code == 130
    assert captured.get().strip() == expected
