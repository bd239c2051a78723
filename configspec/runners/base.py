"""The runner interface: load, forward tokens on a KV cache, roll back, reset."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from configspec.errors import ConfigspecError


@dataclass(frozen=True)
class SequenceTokens:
    """Tokens for one sequence in a multi-sequence forward call (Runner.decode_sequences)."""

    sequence: int
    pos: int  # position of tokens[0]; the sequence's cache holds positions [0, pos)
    tokens: list[int]
    logits_from: int | None = None  # rows wanted: tokens[logits_from:]; None: none


class Runner(ABC):
    """A loaded model with a KV cache. Positions [0, n_past) are in the cache."""

    backend: str
    backend_version: str
    n_vocab: int
    n_ctx: int
    n_past: int = 0
    #: what the backend actually loaded where it is not the file's own quantization (transformers:
    #: the torch dtype, F32 / F16 / BF16); profiles record it. None: the file is what runs.
    precision: str | None = None

    @abstractmethod
    def tokenize(self, text: str, add_special: bool = True) -> list[int]: ...

    @abstractmethod
    def detokenize(self, tokens: list[int]) -> str: ...

    def chat_prompt(self, messages: list[dict[str, str]]) -> str:
        """Render chat `messages` ({"role", "content"}) with the model's own chat template,
        ending with the assistant's turn opened (add_generation_prompt)."""
        raise NotImplementedError(f"{self.backend} runner has no chat template support")

    def stop_tokens(self) -> frozenset[int]:
        """Token ids that end generation (end of turn / end of text)."""
        return frozenset()

    @abstractmethod
    def forward(self, tokens: list[int], all_logits: bool = False) -> np.ndarray:
        """Append `tokens` at n_past and return logits: the last row [V], or every row [n, V]."""

    @abstractmethod
    def rollback(self, n_past: int) -> None:
        """Forget cached positions >= n_past (after a draft token is rejected)."""

    def reset(self) -> None:
        """Clear the KV cache completely."""
        self.rollback(0)

    # Batched verification (optional): several sequences of equal length, one forward call.
    #: how many sequences one forward_batch call can hold (1: the backend does not batch)
    max_sequences: int = 1

    def share_prefix(self, n_sequences: int) -> None:
        """Copy sequence 0's cache into sequences 1..n-1, so n sequences stand at n_past.

        rollback() and reset() then apply to every sequence; forward() works on sequence 0 alone
        and first drops the others."""
        if n_sequences != 1:
            raise NotImplementedError(f"{self.backend} runner does not batch sequences")

    def forward_batch(self, token_lists: list[list[int]], all_logits: bool = False) -> list:
        """Append token_lists[i] to sequence i in ONE call; per sequence, logits as in forward()."""
        if len(token_lists) != 1:
            raise NotImplementedError(f"{self.backend} runner does not batch sequences")
        return [self.forward(token_lists[0], all_logits)]

    # Serving many sessions (optional): each session in its own sequence, at its own position.
    def open_sequences(self, n_sequences: int, n_ctx_per_sequence: int) -> None:
        """Make room for `n_sequences` independent sequences of `n_ctx_per_sequence` positions
        each, all empty; decode_sequences() and forget() then address them by index."""
        raise NotImplementedError(f"{self.backend} runner does not serve sequences")

    def decode_sequences(self, items: list[SequenceTokens]) -> list[np.ndarray | None]:
        """Append each item's tokens to its sequence at item.pos, all in ONE forward call (split
        only where the backend's batch limit demands); per item, the logit rows of
        tokens[item.logits_from:] ([n, V]), or None when logits_from is None."""
        raise NotImplementedError(f"{self.backend} runner does not serve sequences")

    def forget(self, sequence: int, from_pos: int = 0) -> None:
        """Drop positions >= from_pos of one sequence (0: free it)."""
        raise NotImplementedError(f"{self.backend} runner does not serve sequences")

    def _check_room(self, items: list[SequenceTokens]) -> None:
        """Refuse a decode_sequences() call that would run any sequence past n_ctx."""
        for item in items:
            if item.pos + len(item.tokens) > self.n_ctx:
                raise ConfigspecError(f"sequence {item.sequence}: context of {self.n_ctx} tokens "
                                      f"exceeded ({item.pos} + {len(item.tokens)})")  # fmt: skip

    # Forks of sequence 0 (optional; alignment's free-running drafts, alignment/rollouts.py).
    #: how many forks open_forks() made room for (0: none)
    max_forks: int = 0

    def open_forks(self, n_forks: int, n_positions: int) -> None:
        """Make room for sequences 1..n_forks beside sequence 0 (the one forward() uses), each
        adding up to `n_positions` of its own to a prefix it shares with sequence 0; empties the
        cache. decode_sequences() and forget() then address the forks by index."""
        raise NotImplementedError(f"{self.backend} runner does not fork sequences")

    def fork(self, sequence: int, n_positions: int) -> None:
        """Sequence `sequence` (1..max_forks) becomes sequence 0's first `n_positions`."""
        raise NotImplementedError(f"{self.backend} runner does not fork sequences")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Free the model's memory."""

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
