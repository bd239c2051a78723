"""The model folder vLLM loads: a Hugging Face checkpoint made offline from the registry's GGUF.

vLLM's GGUF loading is experimental; a transformers folder is what it loads best. transformers
dequantizes a GGUF (`from_pretrained(..., gguf_file=...)`); the loaded model still carries the
GGUF's `quantization_config`, so it is rebuilt from its config without it and the dequantized
weights are copied in before `save_pretrained` (safetensors, BF16 by default). The tokenizer,
built by transformers from the GGUF's own vocabulary and chat template, is saved beside it.

The folder is derived once per source file and dtype into the cache, like the quantizations:
`<cache>/hf-folders/<source sha256[:16]>/<stem>-<dtype>/`, built in a temporary sibling and
renamed into place, so an interrupted conversion never leaves a half folder behind. Its
`configspec-source.json` names the source file, its hash and the dtype.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from configspec.errors import ConfigspecError
from configspec.registry.schema import ModelEntry
from configspec.sources.cache import cache_dir, file_sha256
from configspec.sources.resolve import source_file

DTYPES = {"BF16": "bfloat16", "F16": "float16", "F32": "float32"}
STAMP = "configspec-source.json"


def hf_folder_path(source: Path, dtype: str) -> Path:
    stem = source.name.removesuffix(".gguf")
    return cache_dir() / "hf-folders" / file_sha256(source)[:16] / f"{stem}-{dtype.lower()}"


def vllm_model_folder(model: ModelEntry, dtype: str = "BF16", log=None) -> Path:
    """The folder vLLM loads for `model`: its hf checkpoint folder as is, or the folder derived
    from its GGUF (converted on first use: ~75 s for the demo 0.5B on 2 cores)."""
    dtype = dtype.upper()
    if dtype not in DTYPES:
        raise ConfigspecError(f"--dtype for vLLM is one of {', '.join(DTYPES)}, not {dtype!r}")
    source = source_file(model)
    if source.is_dir():
        return source
    if source.suffix.lower() != ".gguf":
        raise ConfigspecError(f"{model.name}: {source} is neither a GGUF file nor a folder")
    dest = hf_folder_path(source, dtype)
    if (dest / STAMP).is_file():
        return dest
    if log:
        log(f"{model.name}: converting {source.name} to a {dtype} transformers folder for vLLM "
            "(once; about a minute per billion parameters on 2 cores)")  # fmt: skip
    convert_gguf(source, dest, dtype)
    return dest


def convert_gguf(source: Path, dest: Path, dtype: str) -> Path:
    """Write a transformers checkpoint folder for the GGUF `source` at `dest` (atomically)."""
    try:
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise ConfigspecError(
            "making a vLLM model folder from a GGUF needs transformers, gguf and torch: "
            "pip install -e '.[hf]'"
        ) from exc
    torch_dtype = getattr(torch, DTYPES[dtype])
    extra = {"gguf_file": source.name}
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        try:
            tokenizer = AutoTokenizer.from_pretrained(source.parent, **extra)
            loaded = AutoModelForCausalLM.from_pretrained(source.parent, dtype=torch_dtype, **extra)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ConfigspecError(f"transformers could not read {source.name}: {first}") from exc
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        model = AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
        model.load_state_dict(loaded.state_dict())
        del loaded
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / STAMP).write_text(json.dumps({
            "source": str(source), "source_sha256": file_sha256(source), "dtype": dtype,
            "transformers": transformers.__version__,
        }, indent=1) + "\n")  # fmt: skip
        tmp.chmod(0o755)
        if dest.exists():  # a stale folder without a stamp (an older, interrupted layout)
            shutil.rmtree(dest)
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def folder_vocab_size(folder: Path) -> int | None:
    """The vocabulary (logit rows) of a transformers folder, from its config.json."""
    try:
        config = json.loads((Path(folder) / "config.json").read_text())
    except (OSError, ValueError):
        return None
    size = config.get("vocab_size") or config.get("text_config", {}).get("vocab_size")
    return int(size) if size else None
