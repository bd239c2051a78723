"""llama.cpp through llama-cpp-python: the edge backend.

We drive the context and batch directly instead of `Llama.eval`, which with logits_all=False keeps no
logits and with logits_all=True copies every row on every call.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from configspec.errors import ConfigspecError
from configspec.native_quiet import native_output_silenced
from configspec.runners.base import Runner, SequenceTokens


class LlamaCppRunner(Runner):
    backend = "llama_cpp"

    def __init__(
        self, path: Path, threads: int, n_ctx: int = 2048, n_batch: int = 512, seed: int = 0,
        n_seq_max: int = 1, vocab_only: bool = False,
    ):  # fmt: skip
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
                    vocab_only=vocab_only, verbose=False,
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
        self.n_sequences = 1  # sequences in use, all at n_past (see share_prefix)
        self.max_sequences = n_seq_max
        if n_seq_max > 1:
            self._open_sequences(n_seq_max)

    def _open_sequences(self, n_seq_max: int, unified: bool = False, n_cells: int = 0) -> None:
        """Swap in a context with room for n_seq_max sequences of n_ctx positions each, as
        llama-server's parallel slots run; llama-cpp-python's Llama has no n_seq_max option.
        unified=False: one KV stream per sequence (equal-length batches, verify-latency);
        unified=True: one shared KV buffer, so sequences of different lengths at different
        positions go in one ubatch (llama-server's --kv-unified; the verification server).
        n_cells: the KV cells in all (default n_ctx per sequence)."""
        from llama_cpp import _internals

        if n_seq_max > self._llama_cpp.llama_max_parallel_sequences():
            raise ConfigspecError(
                f"llama.cpp batches at most {self._llama_cpp.llama_max_parallel_sequences()} "
                f"sequences, not {n_seq_max}"
            )
        params = self.llm.context_params
        params.n_seq_max = n_seq_max
        params.n_ctx = n_cells or self.n_ctx * n_seq_max  # default: n_ctx per sequence
        params.kv_unified = unified
        with native_output_silenced():
            ctx = _internals.LlamaContext(model=self.llm._model, params=params, verbose=False)
        self.llm._ctx.close()
        self.llm._ctx = ctx
        self.max_sequences = n_seq_max

    @property
    def ctx(self):
        """The raw llama_context pointer, for llama.cpp's own perf counters."""
        return self.llm._ctx.ctx

    def tokenize(self, text: str, add_special: bool = True) -> list[int]:
        return self.llm.tokenize(text.encode(), add_bos=add_special, special=True)

    def detokenize(self, tokens: list[int]) -> str:
        return self.llm.detokenize(tokens).decode(errors="replace")

    def chat_prompt(self, messages: list[dict[str, str]]) -> str:
        """Render with the GGUF's own `tokenizer.chat_template` (Jinja2, as llama-cpp-python)."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ConfigspecError(
                f"{self.path.name} has no tokenizer.chat_template; use a chat (instruct) model"
            )
        model = self.llm._model
        eos, bos = self.llm.token_eos(), self.llm.token_bos()
        formatter = Jinja2ChatFormatter(
            template,
            eos_token=model.token_get_text(eos) if eos >= 0 else "",
            bos_token=model.token_get_text(bos) if bos >= 0 else "",
        )
        try:
            return formatter(messages=messages).prompt
        except Exception as exc:  # jinja2 template errors of many kinds; all mean "bad messages"
            raise ConfigspecError(f"chat template of {self.path.name} failed: {exc}") from exc

    def stop_tokens(self) -> frozenset[int]:
        vocab = self._llama_cpp.llama_model_get_vocab(self.llm._model.model)
        is_eog = self._llama_cpp.llama_vocab_is_eog
        return frozenset(t for t in range(self.n_vocab) if is_eog(vocab, t))

    def forward(self, tokens: list[int], all_logits: bool = False) -> np.ndarray:
        if not tokens:
            raise ValueError("forward() needs at least one token")
        if self.n_past + len(tokens) > self.n_ctx:
            raise ConfigspecError(
                f"context of {self.n_ctx} tokens exceeded ({self.n_past} + {len(tokens)})"
            )
        if self.n_sequences > 1:  # forward() works on sequence 0 alone
            mem = self._llama_cpp.llama_get_memory(self.ctx)
            for seq in range(1, self.n_sequences):
                self._llama_cpp.llama_memory_seq_rm(mem, seq, -1, -1)
            self.n_sequences = 1
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

    def share_prefix(self, n_sequences: int) -> None:
        if not 1 <= n_sequences <= self.max_sequences:
            raise ValueError(
                f"{n_sequences} sequences asked, the context was opened with {self.max_sequences}"
            )
        mem = self._llama_cpp.llama_get_memory(self.ctx)
        for seq in range(1, max(n_sequences, self.n_sequences)):
            self._llama_cpp.llama_memory_seq_rm(mem, seq, -1, -1)
            if seq < n_sequences:
                self._llama_cpp.llama_memory_seq_cp(mem, 0, seq, -1, -1)
        self.n_sequences = n_sequences

    def forward_batch(self, token_lists: list[list[int]], all_logits: bool = False) -> list:
        """Several sequences of equal length in one llama_batch (decode_sequences)."""
        if len(token_lists) != self.n_sequences:
            raise ValueError(
                f"{len(token_lists)} token lists for {self.n_sequences} sequences: "
                "call share_prefix() first"
            )
        if len(token_lists) == 1:
            return [self.forward(token_lists[0], all_logits)]
        length = len(token_lists[0])
        if length == 0 or any(len(t) != length for t in token_lists):
            raise ValueError("forward_batch() needs non-empty token lists of equal length")
        if self.n_past + length > self.n_ctx:
            raise ConfigspecError(
                f"context of {self.n_ctx} tokens exceeded ({self.n_past} + {length})"
            )
        first = 0 if all_logits else length - 1
        rows = self.decode_sequences(
            [
                SequenceTokens(seq, self.n_past, list(toks), first)
                for seq, toks in enumerate(token_lists)
            ]
        )
        self.n_past += length
        return [r if all_logits else r[-1] for r in rows]

    def open_sequences(self, n_sequences: int, n_ctx_per_sequence: int) -> None:
        self.n_ctx = n_ctx_per_sequence
        self._open_sequences(n_sequences, unified=True)
        self.n_past = 0
        self.n_sequences = n_sequences

    def decode_sequences(self, items: list[SequenceTokens]) -> list[np.ndarray | None]:
        """llama-server's pattern: every sequence's pending tokens in one llama_batch, each token
        with its sequence's seq_id and its own position; one llama_decode per n_batch tokens."""
        entries = [
            (k, item.sequence, item.pos + i, token,
             item.logits_from is not None and i >= item.logits_from)
            for k, item in enumerate(items) for i, token in enumerate(item.tokens)
        ]  # fmt: skip
        self._check_room(items)
        rows: list[list[np.ndarray]] = [[] for _ in items]
        b = self.llm._batch.batch
        for start in range(0, len(entries), self.n_batch):
            chunk = entries[start : start + self.n_batch]
            b.n_tokens = len(chunk)
            owners = []
            for j, (k, seq, pos, token, want) in enumerate(chunk):
                b.token[j], b.pos[j], b.n_seq_id[j] = token, pos, 1
                b.seq_id[j][0] = seq
                b.logits[j] = want
                if want:
                    owners.append(k)
            self.llm._ctx.decode(self.llm._batch)
            if owners:
                block = np.ctypeslib.as_array(
                    self.llm._ctx.get_logits(), shape=(len(owners), self.n_vocab)
                ).copy()
                for row, k in zip(block, owners, strict=True):
                    rows[k].append(row)
        return [
            None if item.logits_from is None else np.stack(r) if r else np.empty((0, self.n_vocab))
            for item, r in zip(items, rows, strict=True)
        ]

    def open_forks(self, n_forks: int, n_positions: int) -> None:
        """One unified KV buffer: sequence 0's n_ctx cells plus n_positions per fork; a fork's
        shared prefix is the same cells tagged with both sequence ids (llama_memory_seq_cp
        within one stream copies nothing)."""
        self._open_sequences(1 + n_forks, unified=True, n_cells=self.n_ctx + n_forks * n_positions)
        self.max_forks = n_forks
        self.n_past = 0
        self.n_sequences = 1

    def fork(self, sequence: int, n_positions: int) -> None:
        if not 1 <= sequence <= self.max_forks:
            raise ValueError(f"fork {sequence}: open_forks() made room for {self.max_forks}")
        if n_positions > self.n_past:
            raise ValueError(f"fork at {n_positions} past sequence 0's {self.n_past} positions")
        mem = self._llama_cpp.llama_get_memory(self.ctx)
        self._llama_cpp.llama_memory_seq_rm(mem, sequence, -1, -1)
        self._llama_cpp.llama_memory_seq_cp(mem, 0, sequence, 0, n_positions)

    def forget(self, sequence: int, from_pos: int = 0) -> None:
        mem = self._llama_cpp.llama_get_memory(self.ctx)
        self._llama_cpp.llama_memory_seq_rm(mem, sequence, from_pos, -1)

    def rollback(self, n_past: int) -> None:
        # seq -1: every sequence (the high-level kv_cache_seq_rm maps -1 to sequence 0)
        mem = self._llama_cpp.llama_get_memory(self.ctx)
        self._llama_cpp.llama_memory_seq_rm(mem, -1, n_past, -1)
        self.n_past = n_past

    def reset(self) -> None:
        mem = self._llama_cpp.llama_get_memory(self.ctx)
        self._llama_cpp.llama_memory_clear(mem, True)
        self.n_past = 0
        self.n_sequences = 1

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is not None:
            llm.close()
            self.llm = None
