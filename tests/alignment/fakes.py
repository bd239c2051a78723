"""A faithful fake of the Runner interface for alignment tests: logits are a pure function of the
tokens in the cache, so a wrong prefill, rollback or off-by-one changes the figures."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from configspec.runners.base import Runner


class FakeRunner(Runner):
    backend = "fake"
    backend_version = "0"

    def __init__(
        self, next_logits: Callable[[tuple[int, ...]], np.ndarray], n_vocab: int,
        vocab_offset: int = 0, stops: frozenset[int] = frozenset(), n_ctx: int = 4096,
        text_vocab: int | None = None,
    ):  # fmt: skip
        self.next_logits = next_logits
        self.n_vocab = n_vocab
        self.n_ctx = n_ctx
        self.vocab_offset = vocab_offset  # shifts token ids: a different tokenizer
        self.stops = stops
        self.text_vocab = text_vocab or n_vocab  # ids text maps to (< n_vocab: padded vocabulary)
        self.cache: list[int] = []
        self.n_past = 0
        self.forward_calls = 0

    def tokenize(self, text: str, add_special: bool = True) -> list[int]:
        return [(ord(c) + self.vocab_offset) % self.text_vocab for c in text]

    def detokenize(self, tokens: list[int]) -> str:
        return "".join(chr((t - self.vocab_offset) % self.text_vocab) for t in tokens)

    def chat_prompt(self, messages: list[dict[str, str]]) -> str:
        return "".join(f"<{m['role']}>{m['content']}" for m in messages) + "<assistant>"

    def stop_tokens(self) -> frozenset[int]:
        return self.stops

    def forward(self, tokens: list[int], all_logits: bool = False) -> np.ndarray:
        assert tokens and self.n_past + len(tokens) <= self.n_ctx
        self.forward_calls += 1
        rows = []
        for token in tokens:
            self.cache.append(int(token))
            rows.append(np.asarray(self.next_logits(tuple(self.cache)), dtype=np.float32))
        self.n_past = len(self.cache)
        return np.stack(rows) if all_logits else rows[-1]

    def rollback(self, n_past: int) -> None:
        assert 0 <= n_past <= len(self.cache)
        del self.cache[n_past:]
        self.n_past = n_past


def hashed_logits(seed: int, n_vocab: int, peak: float = 3.0):
    """Pseudo-random logits seeded by the whole prefix (ints only: hash() is reproducible)."""

    def fn(prefix: tuple[int, ...]) -> np.ndarray:
        rng = np.random.default_rng(abs(hash((seed, prefix))) % (2**63))
        logits = rng.normal(size=n_vocab)
        logits[rng.integers(n_vocab)] += peak
        return logits

    return fn


def sometimes_agreeing(target_fn, seed: int, n_vocab: int, agree_every: int = 3):
    """A draft equal to the target except on about one prefix in `agree_every`."""
    own = hashed_logits(seed, n_vocab)

    def fn(prefix: tuple[int, ...]) -> np.ndarray:
        if abs(hash((seed, 7919, prefix))) % agree_every == 0:
            return own(prefix)
        return target_fn(prefix)

    return fn
