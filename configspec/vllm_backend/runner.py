"""A Runner whose forward calls are vLLM requests: verification through prompt logprobs.

vLLM's OpenAI server keeps no KV cache a client can address between requests, and requests that
ask for prompt logprobs bypass its prefix cache (vLLM PR #23399). So this runner keeps each
sequence as a list of token ids on the client side, and every call that wants logit rows sends
the WHOLE sequence again (context + new tokens) as one `/v1/completions` request with
`prompt_logprobs=N`: the cost of a verification round is a re-prefill of its full context,
t(c + K + 1 tokens of prefill) instead of t(K + 1 tokens on a warm cache) (docs/vllm.md,
"What re-prefill costs"). Tokens fed without asking for rows (a prompt's prefill) cost nothing
here: they are read with the first round. Calls for several sequences go out concurrently and
vLLM batches them (continuous batching).

The rows: prompt logprobs of position i are the distribution after tokens[: i + 1] (the logit
row of position i). The row after the last token is not a prompt position, so one probe token
is appended to the request (its own logprob is ignored; only the top N of its row are used).
vLLM returns raw log-softmax values (prompt logprobs skip the sampler's processors in 0.32,
whatever --logprobs-mode says: gpu_model_runner._get_prompt_logprobs_dict) for the top N
tokens; a row here is those N values and -inf elsewhere. Log-softmax differs from the logits
by a constant, so argmax and softmax(row / T) over the top N are exact: greedy verification is
exact; sampled verification is exact for the target restricted to its top N tokens (top-k
sampling with k = N), and the mass the target puts outside its top N (at T = 1) is recorded.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from configspec.errors import ConfigspecError
from configspec.runners.base import Runner, SequenceTokens
from configspec.vllm_backend.client import PositionLogprobs, VllmClient


def dense_rows(positions: list[PositionLogprobs], n_vocab: int) -> np.ndarray:
    """[n, V] float32: each position's top-N log-probabilities, -inf elsewhere."""
    rows = np.full((len(positions), n_vocab), -np.inf, dtype=np.float32)
    for row, position in zip(rows, positions, strict=True):
        ids = np.asarray(position.top_ids, dtype=np.int64)
        if ids.size and ids.max() >= n_vocab:
            raise ConfigspecError(f"vLLM returned token id {int(ids.max())}, outside the "
                                  f"registry target's vocabulary of {n_vocab}")  # fmt: skip
        row[ids] = position.top_logprobs
    return rows


def tail_mass(position: PositionLogprobs) -> float:
    """Probability (T = 1) the target puts outside the returned top N."""
    return max(0.0, 1.0 - math.fsum(math.exp(v) for v in position.top_logprobs))


class VllmRunner(Runner):
    backend = "vllm"

    def __init__(self, client: VllmClient, model_id: str, n_vocab: int, n_ctx: int,
                 top_n: int = 20, backend_version: str = "vLLM"):  # fmt: skip
        if top_n < 1:
            raise ConfigspecError(f"--vllm-top-logprobs must be at least 1 (got {top_n})")
        self.client = client
        self.model_id = model_id
        self.n_vocab = n_vocab
        self.n_ctx = n_ctx
        self.top_n = top_n
        self.backend_version = backend_version
        self.max_sequences = 8
        self.sequences: dict[int, list[int]] = {0: []}
        self.n_sequences = 1
        self.max_tail_mass = 0.0  # the largest top-N tail seen (sampled exactness, see above)
        self.rows_fetched = 0
        self._pool: ThreadPoolExecutor | None = None

    # ---- tokenizer (the served one) ------------------------------------------------------
    def tokenize(self, text: str, add_special: bool = True) -> list[int]:
        return self.client.tokenize(text, add_special)

    def detokenize(self, tokens: list[int]) -> str:
        return self.client.detokenize(tokens)

    # ---- one request -----------------------------------------------------------------------
    def _rows(self, context: list[int], tokens: list[int], logits_from: int) -> np.ndarray:
        """Rows of tokens[logits_from:] after `context`: one re-prefill of the whole sequence."""
        sequence = [*context, *tokens]
        if len(sequence) + 1 > self.n_ctx:
            raise ConfigspecError(f"context of {self.n_ctx} tokens exceeded ({len(sequence)} + 1 "
                                  "probe token)")  # fmt: skip
        first = len(context) + logits_from + 1
        positions = self.client.prompt_logprobs(self.model_id, [*sequence, sequence[-1]],
                                                self.top_n, first)  # fmt: skip
        self.rows_fetched += len(positions)
        self.max_tail_mass = max(self.max_tail_mass, *(tail_mass(p) for p in positions))
        return dense_rows(positions, self.n_vocab)

    def _concurrently(self, calls: list) -> list:
        if len(calls) == 1:
            return [calls[0]()]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="vllm-request")
        return [f.result() for f in [self._pool.submit(c) for c in calls]]

    # ---- the Runner interface (sequence 0) ------------------------------------------------
    @property
    def n_past(self) -> int:  # type: ignore[override]
        return len(self.sequences[0])

    def forward(self, tokens: list[int], all_logits: bool = False) -> np.ndarray:
        if not tokens:
            raise ValueError("forward() needs at least one token")
        self.sequences = {0: self.sequences[0]}
        self.n_sequences = 1
        rows = self._rows(self.sequences[0], tokens, 0 if all_logits else len(tokens) - 1)
        self.sequences[0] += tokens
        return rows if all_logits else rows[-1]

    def rollback(self, n_past: int) -> None:
        for tokens in self.sequences.values():
            del tokens[max(0, n_past) :]

    def reset(self) -> None:
        self.sequences = {0: []}
        self.n_sequences = 1

    def share_prefix(self, n_sequences: int) -> None:
        if not 1 <= n_sequences <= self.max_sequences:
            raise ValueError(f"{n_sequences} sequences asked, at most {self.max_sequences}")
        self.sequences = {i: list(self.sequences[0]) for i in range(n_sequences)}
        self.n_sequences = n_sequences

    def forward_batch(self, token_lists: list[list[int]], all_logits: bool = False) -> list:
        if len(token_lists) != self.n_sequences:
            raise ValueError(f"{len(token_lists)} token lists for {self.n_sequences} sequences: "
                             "call share_prefix() first")  # fmt: skip
        items = [SequenceTokens(i, len(self.sequences[i]), list(t), 0 if all_logits else
                                len(t) - 1) for i, t in enumerate(token_lists)]  # fmt: skip
        rows = self.decode_sequences(items)
        return [r if all_logits else r[-1] for r in rows]

    # ---- serving many sessions --------------------------------------------------------------
    def open_sequences(self, n_sequences: int, n_ctx_per_sequence: int) -> None:
        if n_ctx_per_sequence > self.n_ctx:
            raise ConfigspecError(f"the vLLM server holds {self.n_ctx} tokens per sequence "
                                  f"(--max-model-len), not {n_ctx_per_sequence}; lower --ctx")  # fmt: skip
        self.max_sequences = n_sequences
        self.sequences = {i: [] for i in range(n_sequences)}

    def decode_sequences(self, items: list[SequenceTokens]) -> list[np.ndarray | None]:
        calls = []
        for item in items:
            held = self.sequences.setdefault(item.sequence, [])
            if len(held) != item.pos:
                raise ValueError(f"sequence {item.sequence} holds {len(held)} tokens, the call "
                                 f"appends at {item.pos}")  # fmt: skip
            if item.logits_from is not None:
                context = list(held)
                calls.append(lambda c=context, i=item: self._rows(c, i.tokens, i.logits_from))
        fetched = iter(self._concurrently(calls)) if calls else iter(())
        out: list[np.ndarray | None] = []
        for item in items:
            self.sequences[item.sequence] += item.tokens
            out.append(next(fetched) if item.logits_from is not None else None)
        return out

    def forget(self, sequence: int, from_pos: int = 0) -> None:
        del self.sequences.setdefault(sequence, [])[max(0, from_pos) :]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
