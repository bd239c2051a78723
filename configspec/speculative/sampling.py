"""Token choice for speculative decoding: softmax at a temperature and Leviathan's accept/reject.

Leviathan, Kalman, Matias 2023 ("Fast Inference from Transformers via Speculative Decoding",
Algorithm 1): accept a draft token x ~ q with probability min(1, p(x)/q(x)); on rejection sample
from norm(max(0, p - q)); after K acceptances sample the bonus token from p. The output then has
exactly the target's distribution p, whatever q is.
"""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities at `temperature` (> 0), in float64 so that tiny ratios p/q stay exact enough."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z -= z.max()
    e = np.exp(z)
    return e / e.sum()


def max_probability(logits: np.ndarray, temperature: float = 1.0) -> float:
    """The model's confidence: its largest probability at `temperature` (1 / sum exp(z - z_max))."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    return float(1.0 / np.exp(z - z.max()).sum())


def sample(probs: np.ndarray, rng: np.random.Generator) -> int:
    """One draw from a categorical distribution (inverse CDF: one uniform per draw)."""
    cdf = np.cumsum(probs)
    return int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), len(probs) - 1))


def same_width(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pad the shorter vocabulary with zero probability (tokens one model cannot produce)."""
    if len(p) == len(q):
        return p, q
    width = max(len(p), len(q))
    return np.pad(p, (0, width - len(p))), np.pad(q, (0, width - len(q)))


def accept_draft_token(
    x: int, p: np.ndarray, q: np.ndarray, rng: np.random.Generator
) -> tuple[bool, int | None]:
    """Leviathan's test for draft token `x` ~ q against target p. Returns (accepted, correction):
    the correction token, drawn from norm(max(0, p - q)), only when `x` is rejected."""
    p, q = same_width(p, q)
    if rng.random() * q[x] < p[x]:  # r < p(x) / q(x) without dividing by a tiny q(x)
        return True, None
    residual = np.maximum(p - q, 0.0)
    total = residual.sum()
    # p == q everywhere leaves no residual mass; then rejection has probability 0 anyway.
    return False, sample(residual / total if total > 0 else p, rng)


def top_n(probs: np.ndarray, n: int) -> np.ndarray:
    """The distribution restricted to its n most likely tokens and renormalised (zero elsewhere).
    A draft that samples from this and sends only these n (id, prob) pairs keeps rejection
    sampling exact: the q the server tests against is the q the token was drawn from."""
    if n >= len(probs):
        return probs
    keep = np.argpartition(probs, -n)[-n:]
    out = np.zeros_like(probs)
    out[keep] = probs[keep]
    return out / out.sum()


def accept_round(
    drafted: list[int], q_rows: list[np.ndarray | None], rows: np.ndarray, temperature: float,
    rng: np.random.Generator,
) -> tuple[int, int]:  # fmt: skip
    """Verify one round: `rows` are the target's logits after the last committed token and
    after each draft token (len(drafted) + 1 rows). Returns (accepted A, the target's token
    after them: the correction, or the bonus when all were accepted). Greedy (temperature 0):
    accept while the draft token is the target's argmax. Sampled: Leviathan's test per token."""
    if temperature == 0:
        for i, token in enumerate(drafted):
            best = int(np.argmax(rows[i]))
            if best != token:
                return i, best
        return len(drafted), int(np.argmax(rows[len(drafted)]))
    for i, token in enumerate(drafted):
        p = softmax(rows[i], temperature)
        ok, correction = accept_draft_token(token, p, q_rows[i], rng)
        if not ok:
            return i, correction
    return len(drafted), sample(softmax(rows[len(drafted)], temperature), rng)
