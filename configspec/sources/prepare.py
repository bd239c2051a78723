"""`configspec models prepare`: put every selected model file into the cache."""

from __future__ import annotations

from collections.abc import Iterator

from configspec.errors import ConfigspecError
from configspec.progress import byte_progress, step_progress
from configspec.registry.schema import Registry
from configspec.sources.cache import model_bytes
from configspec.sources.resolve import model_file


def prepare_models(
    registry: Registry, names: list[str] | None = None, quants: list[str] | None = None
) -> Iterator[str]:
    """Assemble/download each source and derive each quantization; yields one line per file."""
    models = registry.models
    if names:
        unknown = sorted(set(names) - {m.name for m in models})
        if unknown:
            raise ConfigspecError(f"unknown model(s): {', '.join(unknown)}")
        models = [m for m in models if m.name in names]
    wanted = {q.upper() for q in quants} if quants else None
    files = [(m, q) for m in models for q in m.quantizations if not wanted or q in wanted]
    with step_progress("preparing models", len(files)) as (advance, describe, bars):
        with byte_progress(bars) as factory:
            for model, quant in files:
                describe(f"{model.name} {quant}")
                path = model_file(model, quant, download=True, progress_factory=factory)
                advance()
                yield f"{model.name:<32} {quant:<7} {path} ({model_bytes(path) / 1e6:,.0f} MB)"
