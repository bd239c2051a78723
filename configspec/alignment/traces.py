"""Per-position traces: the target writes a continuation, the draft reads it (teacher forcing).

For each prompt the target generates a continuation greedily and one sampled at a temperature
(numpy sampling from the runner's logits, seeded per prompt id, so runs are reproducible); the
target's logits are recorded while it generates (they are the ones its tokens came from, so no
second target pass is needed). Then ONE teacher-forced pass of each draft over prompt +
continuation (Runner.forward(..., all_logits=True)) gives, for every continuation position t:

- `tokens[t]`: the target's token;
- `match[t]`: the draft's argmax == tokens[t];
- `beta[t]` (sampled): sum_v min(p_t(v), q_t(v)) with p the target's and q the draft's
  distribution at the temperature (Leviathan et al. 2023: the acceptance probability);
- `confidence[t]`: greedy: the draft's argmax probability at T = 1; sampled: max q_t at the
  temperature (what a p-min / tau rule sees when drafting that way);
- `llama_cpp_confidence[t]`: what llama.cpp's p-min compares: the top token's probability after
  the draft's sampler chain, top-k 10 at T = 1, renormalised over those 10
  (common/speculative.cpp draft-simple; llama-sampler.cpp top_k then dist's softmax);
- `rank[t]`: how many tokens the draft scores strictly above tokens[t], capped at RANK_CAP
  (8 = not in the draft's top 8); match implies rank 0.

Caveat: position t is conditioned on the target's tokens 0..t-1. In a real decoder, positions
after the draft's first mismatch in a round are never judged, so walks stay exact for greedy
decoding; only counts that look past a mismatch (drafted tokens under a threshold) approximate:
a threshold draft goes on from its own wrong token. alignment/rollouts.py runs the draft on from
each wrong token (`*_past_miss`), so greedy threshold counts are exact too; sampled ones are not.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from configspec.alignment.walk import RANK_CAP
from configspec.runners.base import Runner

ROW_CHUNK = 32  # rows per float64 softmax block: bounds memory at ~40 MB for a 152k vocabulary
LLAMA_CPP_DRAFT_TOP_K = 10  # llama.cpp's draft sampler: top-k 10, then dist (softmax at T = 1)


@dataclass
class Continuation:
    """What the target wrote after one prompt, and the logits it wrote it from."""

    tokens: np.ndarray  # int64 [n]
    logits: np.ndarray  # float32 [n, V_target]; row t produced tokens[t]


@dataclass
class PromptTrace:
    """One draft's per-position figures over one continuation (see the module docstring)."""

    prompt_id: str
    tokens: np.ndarray  # int32
    match: np.ndarray  # bool
    confidence: np.ndarray  # float32
    rank: np.ndarray  # uint8, 0..RANK_CAP
    beta: np.ndarray | None = None  # float32, sampled mode only
    llama_cpp_confidence: np.ndarray | None = None  # float32; None in traces made before it
    # greedy: [n, steps] confidences of the tokens the draft writes past its own wrong token
    # (alignment/rollouts.py); None where the draft's runner cannot fork, or in older traces
    confidence_past_miss: np.ndarray | None = None
    llama_cpp_confidence_past_miss: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.tokens)


def prompt_rng(seed: int, prompt_id: str) -> np.random.Generator:
    """A generator per (seed, prompt id): a prompt samples the same continuation in any subset."""
    return np.random.default_rng([seed, zlib.crc32(prompt_id.encode())])


def _log_softmax_rows(logits: np.ndarray, temperature: float) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z -= z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def sample_token(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """Draw from softmax(logits / T) by inverting the cumulative distribution (one uniform)."""
    probs = np.exp(_log_softmax_rows(logits, temperature))
    cdf = np.cumsum(probs)
    index = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
    return min(index, len(probs) - 1)


def generate(
    target: Runner, prompt_tokens: list[int], new_tokens: int, temperature: float,
    rng: np.random.Generator | None = None, stop_tokens: frozenset[int] = frozenset(),
) -> Continuation:  # fmt: skip
    """The target's continuation, one forward call per token (plain autoregressive decoding),
    ending after `new_tokens` tokens or after the first stop token (which is kept)."""
    if temperature > 0 and rng is None:
        raise ValueError("sampling needs a random generator")
    target.reset()
    logits = target.forward(list(prompt_tokens))
    tokens: list[int] = []
    rows: list[np.ndarray] = []
    while True:
        row = np.asarray(logits, dtype=np.float32)
        token = int(np.argmax(row)) if temperature == 0 else sample_token(row, temperature, rng)
        tokens.append(token)
        rows.append(row)
        if len(tokens) >= new_tokens or token in stop_tokens:
            break
        logits = target.forward([token])
    return Continuation(np.asarray(tokens, dtype=np.int64), np.stack(rows))


def draft_logits(
    draft: Runner, prompt_tokens: list[int], continuations: list[np.ndarray]
) -> list[np.ndarray]:
    """Teacher-forced draft logits, one pass per continuation: row t predicts continuation[t].
    The prompt (less its last token) is prefilled once and kept across continuations."""
    draft.reset()
    prompt = list(prompt_tokens)
    if len(prompt) > 1:
        draft.forward(prompt[:-1])
    base = draft.n_past
    out = []
    for tokens in continuations:
        draft.rollback(base)
        feed = [prompt[-1], *(int(t) for t in tokens[:-1])]
        out.append(np.asarray(draft.forward(feed, all_logits=True), dtype=np.float32))
    return out


def llama_cpp_confidence(logits: np.ndarray) -> np.ndarray:
    """Per row, the top token's probability over the top LLAMA_CPP_DRAFT_TOP_K logits at T = 1:
    1 / sum_{i in top k} exp(z_i - z_max), the number llama.cpp compares with --spec-draft-p-min."""
    z = np.asarray(logits, dtype=np.float64)
    k = min(LLAMA_CPP_DRAFT_TOP_K, z.shape[-1])
    top = np.partition(z, z.shape[-1] - k, axis=-1)[..., -k:]
    return 1.0 / np.exp(top - top.max(axis=-1, keepdims=True)).sum(axis=-1)


def position_stats(
    prompt_id: str, tokens: np.ndarray, draft_rows: np.ndarray,
    target_rows: np.ndarray | None = None, temperature: float = 0.0,
) -> PromptTrace:  # fmt: skip
    """Per-position figures from the draft's logits (and the target's for sampled mode)."""
    tokens = np.asarray(tokens, dtype=np.int64)
    n = len(tokens)
    if draft_rows.shape[0] != n:
        raise ValueError(f"{draft_rows.shape[0]} draft rows for {n} tokens")
    sampled = temperature > 0
    if sampled and (target_rows is None or target_rows.shape[0] != n):
        raise ValueError("sampled mode needs one target logit row per token")
    match = np.empty(n, dtype=bool)
    rank = np.empty(n, dtype=np.uint8)
    confidence = np.empty(n, dtype=np.float32)
    llama_cpp = np.empty(n, dtype=np.float32)
    beta = np.empty(n, dtype=np.float32) if sampled else None
    for lo in range(0, n, ROW_CHUNK):
        hi = min(n, lo + ROW_CHUNK)
        z = draft_rows[lo:hi]
        y = tokens[lo:hi]
        chosen = z[np.arange(hi - lo), y]
        match[lo:hi] = np.argmax(z, axis=1) == y
        rank[lo:hi] = np.minimum((z > chosen[:, None]).sum(axis=1), RANK_CAP)
        log_q = _log_softmax_rows(z, temperature if sampled else 1.0)
        confidence[lo:hi] = np.exp(log_q.max(axis=1))
        llama_cpp[lo:hi] = llama_cpp_confidence(z)
        if sampled:
            p = np.exp(_log_softmax_rows(target_rows[lo:hi], temperature))
            common = min(p.shape[1], log_q.shape[1])  # padded vocabularies may differ in size
            beta[lo:hi] = np.minimum(p[:, :common], np.exp(log_q[:, :common])).sum(axis=1)
    return PromptTrace(
        prompt_id, tokens.astype(np.int32), match, confidence, rank,
        None if beta is None else np.clip(beta, 0.0, 1.0), llama_cpp,
    )  # fmt: skip


# ---- storage -----------------------------------------------------------------------------------

FIELDS = ("tokens", "match", "confidence", "rank", "beta", "llama_cpp_confidence",
          "confidence_past_miss", "llama_cpp_confidence_past_miss")  # fmt: skip


def pack_traces(key: str, traces: list[PromptTrace]) -> dict[str, np.ndarray]:
    """Concatenate a cell's prompt traces into flat arrays plus `offsets` (prompt boundaries)."""
    lengths = [len(t) for t in traces]
    arrays = {f"{key}/offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)}
    for name in FIELDS:
        parts = [getattr(t, name) for t in traces]
        if any(p is None for p in parts):
            continue
        arrays[f"{key}/{name}"] = np.concatenate(parts) if parts else np.zeros(0)
    return arrays


def unpack_traces(arrays, key: str, prompt_ids: list[str]) -> list[PromptTrace]:
    """The inverse of pack_traces (arrays: an open np.load(...) or a dict)."""
    offsets = arrays[f"{key}/offsets"]
    out = []
    for i, prompt_id in enumerate(prompt_ids):
        lo, hi = int(offsets[i]), int(offsets[i + 1])
        fields = {
            name: (arrays[f"{key}/{name}"][lo:hi] if f"{key}/{name}" in arrays else None)
            for name in FIELDS
        }
        out.append(PromptTrace(prompt_id, **fields))
    return out
