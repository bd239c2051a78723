"""llama.cpp through llama-cpp-python: the edge backend.

We drive the context and batch directly instead of `Llama.eval`, which with logits_all=False keeps no
logits and with logits_all=True copies every row on every call (see shared/NOTES.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from configspec.errors import ConfigspecError
from configspec.native_quiet import native_output_silenced
from configspec.runners.base import Runner


class LlamaCppRunner(Runner):
    backend = "llama_cpp"

    def __init__(
        self, path: Path, threads: int, n_ctx: int = 2048, n_batch: int = 512, seed: int = 0
    ):
        import llama_cpp

        path = Path(path)
        if not path.is_file():
            raise ConfigspecError(f"model file {path} not found")
        self.backend_version = llama_cpp.__version__
        with native_output_silenced():
            try:
                self.llm = llama_cpp.Llama(
                    model_path=str(path), n_ctx=n_ctx, n_batch=n_batch, n_ubatch=n_batch,
                    n_threads=threads, n_threads_batch=threads, logits_all=False, seed=seed,
                    verbose=False,
                )  # fmt: skip
            except ValueError as exc:
                raise ConfigspecError(f"llama.cpp could not load {path.name}: {exc}") from exc
        self._llama_cpp = llama_cpp
        self.path = path
        self.threads = threads
        self.n_ctx = n_ctx
        self.n_batch = n_batch
        self.n_vocab = self.llm.n_vocab()
        self.n_past = 0

    @property
    def ctx(self):
        """The raw llama_context pointer, for llama.cpp's own perf counters."""
        return self.llm._ctx.ctx

    def tokenize(self, text: str, add_special: bool = True) -> list[int]:
        return self.llm.tokenize(text.encode(), add_bos=add_special, special=True)

    def detokenize(self, tokens: list[int]) -> str:
        return self.llm.detokenize(tokens).decode(errors="replace")

    def forward(self, tokens: list[int], all_logits: bool = False) -> np.ndarray:
        if not tokens:
            raise ValueError("forward() needs at least one token")
        if self.n_past + len(tokens) > self.n_ctx:
            raise ConfigspecError(
                f"context of {self.n_ctx} tokens exceeded ({self.n_past} + {len(tokens)})"
            )
        ctx, batch = self.llm._ctx, self.llm._batch
        rows = []
        for start in range(0, len(tokens), self.n_batch):
            chunk = tokens[start : start + self.n_batch]
            batch.set_batch(batch=chunk, n_past=self.n_past, logits_all=all_logits)
            ctx.decode(batch)
            self.n_past += len(chunk)
            n_rows = len(chunk) if all_logits else 1
            logits = np.ctypeslib.as_array(ctx.get_logits(), shape=(n_rows, self.n_vocab))
            if all_logits or start + self.n_batch >= len(tokens):
                rows.append(logits.copy())
        return np.concatenate(rows) if all_logits else rows[-1][0]

    def rollback(self, n_past: int) -> None:
        self.llm._ctx.kv_cache_seq_rm(-1, n_past, -1)
        self.n_past = n_past

    def reset(self) -> None:
        mem = self._llama_cpp.llama_get_memory(self.ctx)
        self._llama_cpp.llama_memory_clear(mem, True)
        self.n_past = 0

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is not None:
            llm.close()
            self.llm = None
