"""Faithful fakes of the Runner interface: the next-token logits are a pure function of the tokens
in the cache, so a cache that holds the wrong tokens (a rollback bug) changes the output."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from configspec.runners.base import Runner


class FunctionRunner(Runner):
    """logits after a prefix = `next_logits(prefix)`; the cache is the list of fed tokens."""

    backend = "fake"
    backend_version = "0"

    def __init__(
        self, next_logits: Callable[[tuple[int, ...]], np.ndarray], n_vocab: int, n_ctx: int = 4096
    ):
        self.next_logits = next_logits
        self.n_vocab = n_vocab
        self.n_ctx = n_ctx
        self.cache: list[int] = []
        self.n_past = 0
        self.calls = 0
        self.tokens_forwarded = 0

    def tokenize(self, text: str, add_special: bool = True) -> list[int]:
        return [ord(c) % self.n_vocab for c in text]

    def detokenize(self, tokens: list[int]) -> str:
        return " ".join(map(str, tokens))

    def forward(self, tokens: list[int], all_logits: bool = False) -> np.ndarray:
        assert tokens, "forward() needs at least one token"
        assert self.n_past + len(tokens) <= self.n_ctx, "context exceeded"
        self.calls += 1
        self.tokens_forwarded += len(tokens)
        rows = []
        for token in tokens:
            self.cache.append(int(token))
            rows.append(np.asarray(self.next_logits(tuple(self.cache)), dtype=np.float32))
        self.n_past = len(self.cache)
        return np.stack(rows) if all_logits else rows[-1]

    def rollback(self, n_past: int) -> None:
        assert 0 <= n_past <= len(self.cache), "rollback beyond the cache"
        del self.cache[n_past:]
        self.n_past = n_past


def hashed_logits(seed: int, n_vocab: int, peak: float = 4.0):
    """A deterministic 'model': pseudo-random logits seeded by a hash of the whole prefix."""

    def fn(prefix: tuple[int, ...]) -> np.ndarray:
        rng = np.random.default_rng(abs(hash((seed, prefix))) % (2**63))
        logits = rng.normal(size=n_vocab)
        logits[rng.integers(n_vocab)] += peak
        return logits

    return fn


def agreeing_draft(target_fn, seed: int, n_vocab: int, agree_every: int = 4):
    """A draft that copies the target on most prefixes and guesses on every `agree_every`-th."""
    own = hashed_logits(seed, n_vocab)

    def fn(prefix: tuple[int, ...]) -> np.ndarray:
        if abs(hash((seed, 7919, prefix))) % agree_every == 0:  # ints only: reproducible hash
            return own(prefix)
        return target_fn(prefix)

    return fn


def table_logits(table: np.ndarray):
    """A bigram model: the next-token distribution depends on the last token only."""
    log_table = np.log(table)
    return lambda prefix: log_table[prefix[-1]]
