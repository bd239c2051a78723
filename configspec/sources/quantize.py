"""Derive quantization variants with llama.cpp, once, into the cache keyed by source hash and type."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

from configspec.errors import ConfigspecError
from configspec.native_quiet import native_output_silenced
from configspec.sources.cache import cache_dir, file_sha256


def _ftype(quant: str) -> int:
    import llama_cpp

    name = "LLAMA_FTYPE_ALL_F32" if quant == "F32" else f"LLAMA_FTYPE_MOSTLY_{quant}"
    if not hasattr(llama_cpp, name):
        raise ConfigspecError(f"llama.cpp {llama_cpp.__version__} cannot produce {quant}")
    return getattr(llama_cpp, name)


def derived_path(source: Path, quant: str) -> Path:
    source_sha = file_sha256(source)
    stem = source.name.removesuffix(".gguf")
    return cache_dir() / "quantized" / source_sha[:16] / f"{stem}-{quant}.gguf"


def quantize(source: Path, quant: str, threads: int | None = None) -> Path:
    """The `quant` variant of `source`, made with llama_model_quantize on first use."""
    dest = derived_path(source, quant)
    if dest.is_file():
        return dest
    import llama_cpp

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = _ftype(quant)
    params.allow_requantize = True
    params.nthread = threads or os.cpu_count() or 1
    try:
        with native_output_silenced():
            status = llama_cpp.llama_model_quantize(
                str(source).encode(), str(tmp).encode(), ctypes.byref(params)
            )
        if status != 0 or not tmp.is_file():
            raise ConfigspecError(f"llama.cpp failed to quantize {source.name} to {quant}")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest
