"""From a registry entry and a quantization to a model file (or checkpoint folder) on disk."""

from __future__ import annotations

import os
from pathlib import Path

from configspec.errors import ConfigspecError
from configspec.registry.schema import ModelEntry
from configspec.sources.cache import cache_dir, model_sha256
from configspec.sources.demo import demo_model_path
from configspec.sources.quantize import quantize


def _hf_file(model: ModelEntry, download: bool) -> Path:
    """The `hf` source's file, or a snapshot of the whole repository when no file is named (a
    transformers checkpoint folder)."""
    try:
        from huggingface_hub import hf_hub_download, snapshot_download
    except ImportError as exc:
        raise ConfigspecError("hf sources need huggingface_hub: pip install -e '.[hf]'") from exc
    src = model.source
    what = f"{src.hf}/{src.file}" if src.file else src.hf
    common = dict(revision=src.revision, cache_dir=cache_dir() / "hf",
                  local_files_only=not download)  # fmt: skip
    try:
        if src.file:
            return Path(hf_hub_download(repo_id=src.hf, filename=src.file, **common))
        return Path(snapshot_download(repo_id=src.hf, **common))
    except Exception as exc:  # the hub library raises many kinds; all mean "not here"
        if not download:
            raise ConfigspecError(
                f"{model.name}: {what} is not downloaded yet; run "
                f"`configspec models prepare --model {model.name}`"
            ) from exc
        raise ConfigspecError(f"{model.name}: download of {what} failed: {exc}") from exc


def source_file(model: ModelEntry, download: bool = False, progress_factory=None) -> Path:
    """The model's own file (its `quant`), checked against `source.sha256` when given."""
    src = model.source
    if src.kind == "demo":
        path = demo_model_path(src.demo, progress_factory)
    elif src.kind == "path":
        path = Path(os.path.expandvars(src.path)).expanduser()
        folder_ok = model.backend == "transformers" and path.is_dir()
        if not (path.is_file() or folder_ok):
            what = "model file or checkpoint folder" if model.backend == "transformers" else "file"
            raise ConfigspecError(f"{model.name}: {what} {path} not found (source.path)")
    else:
        path = _hf_file(model, download)
    if src.sha256 and model_sha256(path) != src.sha256.lower():
        raise ConfigspecError(
            f"{model.name}: {path} has sha256 {model_sha256(path)[:16]}..., registry expects "
            f"{src.sha256[:16]}...; the file is corrupt or another version"
        )
    return path


def model_file(
    model: ModelEntry, quant: str, download: bool = False, progress_factory=None
) -> Path:
    """The file for `model` at `quant`: the source itself, or a derived llama.cpp quantization."""
    quant = quant.upper()
    if quant not in model.quantizations and quant != model.quant:
        raise ConfigspecError(
            f"{model.name}: quantization {quant} is not listed for this model "
            f"(listed: {', '.join(model.quantizations)})"
        )
    source = source_file(model, download, progress_factory)
    if quant == model.quant:
        return source
    if model.backend != "llama_cpp":
        return source  # transformers applies its dtype at load time
    return quantize(source, quant)
