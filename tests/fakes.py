"""A faithful fake of the Runner interface, shared by the alignment and decoder tests.

The next-token logits are a pure function of the tokens in the cache, so a wrong prefill, a
rollback bug or an off-by-one changes the output. Token ids and text map one to one (ord/chr),
optionally shifted (`vocab_offset`: another tokenizer) or folded into fewer ids (`text_vocab`:
a padded vocabulary).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from configspec.runners.base import Runner, SequenceTokens


class FakeRunner(Runner):
    """logits after a prefix = `next_logits(prefix)`; the cache is the list of fed tokens."""

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
        self.calls = 0
        self.tokens_forwarded = 0

    def tokenize(self, text: str, add_special: bool = True) -> list[int]:
        return [(ord(c) + self.vocab_offset) % self.text_vocab for c in text]

    def detokenize(self, tokens: list[int]) -> str:
        return "".join(chr((t - self.vocab_offset) % self.text_vocab) for t in tokens)

    def chat_prompt(self, messages: list[dict[str, str]]) -> str:
        return "".join(f"<{m['role']}>{m['content']}" for m in messages) + "<assistant>"

    def stop_tokens(self) -> frozenset[int]:
        return self.stops

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

    # Many sequences (the verification server): one cache per sequence, one "call" per batch.
    def open_sequences(self, n_sequences: int, n_ctx_per_sequence: int) -> None:
        self.sequences: list[list[int]] = [[] for _ in range(n_sequences)]
        self.n_ctx = n_ctx_per_sequence
        self.batches: list[list[SequenceTokens]] = []

    def decode_sequences(self, items: list[SequenceTokens]) -> list:
        self.calls += 1
        self.batches.append(list(items))
        out = []
        for item in items:
            cache = self.sequences[item.sequence]
            assert item.pos == len(cache), (
                f"sequence {item.sequence}: pos {item.pos} != {len(cache)}"
            )
            assert item.pos + len(item.tokens) <= self.n_ctx, "context exceeded"
            rows = []
            for token in item.tokens:
                cache.append(int(token))
                rows.append(np.asarray(self.next_logits(tuple(cache)), dtype=np.float32))
            self.tokens_forwarded += len(item.tokens)
            out.append(None if item.logits_from is None else np.stack(rows[item.logits_from :]))
        return out

    def forget(self, sequence: int, from_pos: int = 0) -> None:
        del self.sequences[sequence][from_pos:]

    # Forks of sequence 0 (forward()'s cache): sequences 1..n start as a prefix of it.
    def open_forks(self, n_forks: int, n_positions: int) -> None:
        self.sequences = [[] for _ in range(n_forks + 1)]
        self.batches = []
        self.max_forks = n_forks
        self.fork_positions = n_positions
        self.rollback(0)

    def fork(self, sequence: int, n_positions: int) -> None:
        assert 1 <= sequence <= self.max_forks, f"fork {sequence} of {self.max_forks}"
        assert n_positions <= len(self.cache), "fork past sequence 0"
        self.sequences[sequence] = list(self.cache[:n_positions])


def hashed_logits(seed: int, n_vocab: int, peak: float):
    """A deterministic 'model': pseudo-random logits seeded by the whole prefix (ints only, so
    hash() is reproducible); one token gets `peak` more, the larger the more confident."""

    def fn(prefix: tuple[int, ...]) -> np.ndarray:
        rng = np.random.default_rng(abs(hash((seed, prefix))) % (2**63))
        logits = rng.normal(size=n_vocab)
        logits[rng.integers(n_vocab)] += peak
        return logits

    return fn


def agreeing_draft(target_fn, seed: int, n_vocab: int, agree_every: int, peak: float):
    """A draft that copies the target except on about one prefix in `agree_every`, where it
    guesses with its own hashed logits."""
    own = hashed_logits(seed, n_vocab, peak)

    def fn(prefix: tuple[int, ...]) -> np.ndarray:
        if abs(hash((seed, 7919, prefix))) % agree_every == 0:
            return own(prefix)
        return target_fn(prefix)

    return fn


def table_logits(table: np.ndarray):
    """A bigram model: the next-token distribution depends on the last token only."""
    log_table = np.log(table)
    return lambda prefix: log_table[prefix[-1]]


def reference_decode(target_fn, draft_fn, prompt: list[int], n: int, k_max: int,
                     tau: float | None = None, confidence=None) -> tuple[int, int, list[int]]:  # fmt: skip
    """A minimal greedy speculative decoder on pure functions, with the walk's end-of-trace cut:
    draft up to min(K, remaining - 1) of the draft's OWN top tokens (with `tau`, stopping before
    one whose `confidence(row)` is below it: llama.cpp's draft-simple loop with its top-10
    confidence, configspec's with the softmax), keep the prefix the target's argmax agrees with,
    add the target's token. Returns (rounds, tokens drafted, output)."""
    out: list[int] = []
    rounds = drafted_total = 0
    while len(out) < n:
        cap = min(k_max, n - len(out) - 1)
        drafted: list[int] = []
        while len(drafted) < cap:
            row = draft_fn(tuple(prompt + out + drafted))
            if tau is not None and confidence(row) < tau:
                break
            drafted.append(int(np.argmax(row)))
        accepted = 0
        for token in drafted:
            if int(np.argmax(target_fn(tuple(prompt + out + drafted[:accepted])))) != token:
                break
            accepted += 1
        out += drafted[:accepted]
        out.append(int(np.argmax(target_fn(tuple(prompt + out)))))
        rounds += 1
        drafted_total += len(drafted)
    return rounds, drafted_total, out
