"""The user cache: assembled and derived model files live here, never in the repository."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from configspec.atomic_io import write_json_atomic

HASH_CHUNK_BYTES = 8 << 20


def cache_dir() -> Path:
    """$CONFIGSPEC_CACHE, else $XDG_CACHE_HOME/configspec, else ~/.cache/configspec."""
    if env := os.environ.get("CONFIGSPEC_CACHE"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "configspec"


def sha256_file(path: Path, progress=None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
            if progress:
                progress(len(chunk))
    return digest.hexdigest()


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256.json")


def file_sha256(path: Path) -> str:
    """sha256 of a file, remembered beside it (keyed by size and mtime) so 1 GB is hashed once."""
    path = Path(path)
    stat = path.stat()
    stamp = _stamp_path(path)
    if stamp.is_file():
        try:
            known = json.loads(stamp.read_text())
            if known["size"] == stat.st_size and known["mtime_ns"] == stat.st_mtime_ns:
                return known["sha256"]
        except (ValueError, KeyError, OSError):
            pass
    digest = sha256_file(path)
    remember_sha256(path, digest)
    return digest


def model_sha256(path: Path) -> str:
    """The identity of a model file, or of a checkpoint folder (transformers): sha256 over each
    file's relative path and sha256, in name order (the per-file digests are remembered)."""
    path = Path(path)
    if not path.is_dir():
        return file_sha256(path)
    digest = hashlib.sha256()
    for part in _model_files(path):
        digest.update(f"{part.relative_to(path).as_posix()}\0{file_sha256(part)}\n".encode())
    return digest.hexdigest()


def model_bytes(path: Path) -> int:
    path = Path(path)
    return (
        sum(p.stat().st_size for p in _model_files(path)) if path.is_dir() else path.stat().st_size
    )


def _model_files(folder: Path) -> list[Path]:
    """A checkpoint folder's files, without hidden files and our own digest stamps."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")
                  and not p.name.endswith(".sha256.json"))  # fmt: skip


def remember_sha256(path: Path, digest: str) -> None:
    stat = Path(path).stat()
    try:
        write_json_atomic(
            _stamp_path(path),
            {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest},
        )
    except OSError:
        pass  # a read-only model folder only costs a re-hash next time
