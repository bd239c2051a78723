"""Walk per-position alignment traces the way a speculative decoder does (pure numpy, no models).

A trace covers the n continuation positions of one prompt; entry t describes the draft's guess for
continuation token t given the prompt and target tokens 0..t-1 (teacher forcing):
`matches[t]` (draft argmax == target token), `betas[t]` (sum_v min(p, q) at the temperature),
`confidence[t]` (the draft's max probability) and `ranks[t]` (target token's rank under the draft).

Rounds (docs/alignment.md; vLLM spec-decode counters): a round starting at continuation position s
drafts D tokens for positions s..s+D-1, accepts the run of matches A <= D, and emits A + 1 tokens
(accepted + the target's bonus/correction token at s+A). The next round starts at s + A + 1.

End of trace (the final round): a decoder that must emit exactly n tokens drafts at most r - 1
tokens when r = n - s remain, because the target always adds one token itself; so
`D_s = min(K, n - s - 1)` and a round starting at n - 1 drafts nothing (a plain target step).
Hence every walk emits exactly n tokens and `tokens == accepted + rounds` always holds, and
`matches[n-1]` is never consulted. configspec/speculative cuts its drafts the same way. A decoder
that instead drafts K anyway in the final rounds and truncates its output to n tokens emits the
same tokens in the same number of rounds; only those rounds' drafted / accepted counts differ
(and their cost: more drafting, a longer verification). A trace that ends with
a stop token (EOS) is walked the same way: the stop token is its last position.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

RANK_CAP = 8  # ranks are stored 0..7; 8 means "not in the draft's top 8"


@dataclass
class WalkCounts:
    """Totals of a walk (expected totals for sampled traces); add them across prompts."""

    rounds: float = 0
    drafted: float = 0
    accepted: float = 0
    tokens: float = 0
    full: float = 0  # rounds that drafted and had every draft accepted (greedy walks only)
    # rounds whose draft stopped on a low-confidence token, before K max and the end of the text
    # (the draft paid one forward call for the token it did not keep; llama.cpp the same)
    stopped_early: float = 0
    # full rounds whose bonus token the draft guessed too: its match at s + D (greedy walks
    # only); proactive drafting reuses what it pre-drafted in those rounds (docs/model.md)
    reuse: float = 0
    # rounds that drafted 0, 1, 2, ... tokens (greedy walks only; empty otherwise): the cost of a
    # verification is not linear in the tokens it checks, so a policy whose D varies from round
    # to round (a threshold) pays the mean of t_v(D), not t_v of the mean (docs/model.md)
    by_drafted: tuple[float, ...] = ()

    def __add__(self, other: WalkCounts) -> WalkCounts:
        return WalkCounts(
            self.rounds + other.rounds,
            self.drafted + other.drafted,
            self.accepted + other.accepted,
            self.tokens + other.tokens,
            self.full + other.full,
            self.stopped_early + other.stopped_early,
            self.reuse + other.reuse,
            _add_histograms(self.by_drafted, other.by_drafted),
        )

    @property
    def full_acceptance(self) -> float:
        """P(all drafted accepted) per round: the draft then ingests two tokens next round."""
        return self.full / self.rounds if self.rounds else 0.0

    @property
    def reuse_rate(self) -> float:
        """P(every draft accepted AND the draft's next-token guess equals the bonus) per round."""
        return self.reuse / self.rounds if self.rounds else 0.0

    @property
    def tokens_per_round(self) -> float:
        return self.tokens / self.rounds if self.rounds else 0.0

    @property
    def drafted_per_round(self) -> float:
        return self.drafted / self.rounds if self.rounds else 0.0

    @property
    def drafted_shares(self) -> list[float]:
        """P(a round drafts D tokens), D = 0, 1, ... (empty where the walk did not count them)."""
        total_rounds = sum(self.by_drafted)
        return [n / total_rounds for n in self.by_drafted] if total_rounds else []

    @property
    def accepted_per_round(self) -> float:
        return self.accepted / self.rounds if self.rounds else 0.0

    @property
    def stopped_early_per_round(self) -> float:
        return self.stopped_early / self.rounds if self.rounds else 0.0


def total(counts: Iterable[WalkCounts]) -> WalkCounts:
    return sum(counts, WalkCounts())


def _add_histograms(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, ...]:
    if not a or not b:  # a walk without one (sampled) leaves the sum without one, except 0 + x
        return a or b
    width = max(len(a), len(b))
    return tuple(
        (a[i] if i < len(a) else 0.0) + (b[i] if i < len(b) else 0.0) for i in range(width)
    )


# ---- draft lengths per round start -------------------------------------------------------------


def fixed_draft_lengths(n: int, k: int) -> np.ndarray:
    """D_s for fixed K: min(K, n - s - 1) (the end-of-trace cut in the module docstring)."""
    if k < 0:
        raise ValueError(f"K must be >= 0, got {k}")
    return np.minimum(k, n - 1 - np.arange(n)).astype(np.int64)


def threshold_draft_lengths(confidence: np.ndarray, k_max: int, tau: float) -> np.ndarray:
    """D_s for confidence-threshold drafting (SLED dynamic drafting; llama.cpp `p_min`).

    The draft stops BEFORE a token whose confidence is below tau, or after k_max tokens, so a round
    may draft zero tokens (llama.cpp drops low-confidence drafts the same way); the end-of-trace cut
    applies too. Caveat: confidence[s+j] for j past a mismatch is conditioned on the target's token,
    not the draft's own, so the drafted count beyond a mismatch is approximate (never the accepted
    count, which stops at the first mismatch anyway); rollout_draft_lengths is exact.
    """
    conf = np.asarray(confidence, dtype=np.float64)
    n = len(conf)
    # run[s] = number of consecutive positions from s with confidence >= tau
    run = _run_lengths(conf >= tau)
    return np.minimum(np.minimum(run, k_max), n - 1 - np.arange(n)).astype(np.int64)


def rollout_draft_lengths(
    matches: np.ndarray, confidence: np.ndarray, past_miss: np.ndarray, k_max: int, tau: float
) -> np.ndarray:
    """D_s for threshold drafting, past the draft's own wrong token too.

    From s the draft keeps tokens while confidence >= tau. If it stops at or before the first
    mismatch m = s + run of matches, the teacher-forced confidences say where (exact). If
    positions s..m are all confident, it drafts its wrong token at m and goes on with its own
    text: then D_s = m - s + 1 + the run of past_miss[m] >= tau (alignment/rollouts.py). Capped
    at k_max and by the end-of-trace cut as everywhere.
    """
    match = np.asarray(matches, dtype=bool)
    n = len(match)
    start = np.arange(n)
    kept = _run_lengths(np.asarray(confidence, dtype=np.float64) >= tau)
    accepted = _run_lengths(match)
    miss = start + accepted  # the first mismatch from s (n: none before the end)
    past = np.asarray(past_miss, dtype=np.float64) >= tau
    own = np.zeros(n + 1, dtype=np.int64)
    own[:n] = _run_lengths(past)[:, 0] if past.shape[-1] else 0
    lengths = np.where((kept > accepted) & (miss < n), accepted + 1 + own[miss], kept)
    return np.minimum(np.minimum(lengths, k_max), n - 1 - start).astype(np.int64)


def _run_lengths(ones: np.ndarray) -> np.ndarray:
    """run[..., s] = length of the run of True starting at s (along the last axis)."""
    ones = np.asarray(ones, dtype=bool)
    run = np.zeros(ones.shape[:-1] + (ones.shape[-1] + 1,), dtype=np.int64)
    for t in range(ones.shape[-1] - 1, -1, -1):
        run[..., t] = np.where(ones[..., t], run[..., t + 1] + 1, 0)
    return run[..., :-1]


# ---- greedy: exact walks -----------------------------------------------------------------------


def walk_with_lengths(
    matches: np.ndarray, lengths: np.ndarray, caps: np.ndarray | None = None
) -> WalkCounts:
    """Walk one greedy trace given the number of tokens drafted at each possible round start
    (and the most it could draft there, `caps`: a round drafting fewer stopped early)."""
    m = np.asarray(matches, dtype=bool)
    n = len(m)
    run = _run_lengths(m)
    caps = lengths if caps is None else caps
    counts = WalkCounts()
    by_drafted = [0.0] * (int(np.max(lengths, initial=0)) + 1)
    s = 0
    while s < n:
        d = int(lengths[s])
        a = min(int(run[s]), d)
        by_drafted[d] += 1
        counts.rounds += 1
        counts.drafted += d
        counts.accepted += a
        counts.tokens += a + 1
        counts.full += d > 0 and a == d
        counts.stopped_early += int(d < caps[s])
        counts.reuse += d > 0 and a == d and run[s] > d  # the match at s + d: the bonus guessed
        s += a + 1
    counts.by_drafted = tuple(by_drafted)
    return counts


def greedy_walk(matches: np.ndarray, k: int) -> WalkCounts:
    """Rounds of a greedy speculative decoder with fixed K over one trace (exact, see docstring).

    Example: matches 1101 1, K=2 -> rounds at s=0 (accept 2, emit 3), s=3 (D=1, accept 1, emit 2):
    2 rounds, 3 drafted, 3 accepted, 5 tokens.
    """
    return walk_with_lengths(matches, fixed_draft_lengths(len(matches), k))


def threshold_walk(
    matches: np.ndarray, confidence: np.ndarray, k_max: int, tau: float
) -> WalkCounts:
    """Greedy walk with confidence-threshold drafting (see threshold_draft_lengths)."""
    lengths = threshold_draft_lengths(confidence, k_max, tau)
    return walk_with_lengths(matches, lengths, fixed_draft_lengths(len(matches), k_max))


# ---- sampling: expectations from betas ---------------------------------------------------------


def _prefix_products(betas: np.ndarray, k: int) -> np.ndarray:
    """P[s, j] = prod_{i<j} beta_{s+i} for j = 0..k (beta past the end treated as 0)."""
    b = np.asarray(betas, dtype=np.float64)
    n = len(b)
    padded = np.concatenate([b, np.zeros(k)])
    prods = np.ones((n, k + 1))
    for j in range(1, k + 1):
        prods[:, j] = prods[:, j - 1] * padded[np.arange(n) + j - 1]
    return prods


def expected_tokens_by_start(betas: np.ndarray, k: int) -> np.ndarray:
    """E[N_s](K) = 1 + sum_{k=1..D_s} prod_{j<k} beta_{s+j} per start s (docs/alignment.md; Leviathan
    et al. 2023 without the i.i.d. assumption), with D_s = min(K, n - s - 1) as in the walk."""
    n = len(betas)
    lengths = fixed_draft_lengths(n, k)
    prods = _prefix_products(betas, k)
    mask = np.arange(k + 1)[None, :] <= lengths[:, None]
    return (prods * mask).sum(axis=1)  # j = 0 term is the 1


def expected_tokens_per_round(betas: np.ndarray, k: int) -> float:
    """E[N_s](K) averaged uniformly over start positions s (docs/alignment.md). See expected_walk for the
    per-round ratio a decoder measures (start positions weighted as the decoder visits them)."""
    if len(betas) == 0:
        return 0.0
    return float(expected_tokens_by_start(betas, k).mean())


def expected_walk(
    betas: np.ndarray, lengths: np.ndarray, caps: np.ndarray | None = None
) -> WalkCounts:
    """Expected totals of the stochastic walk in which draft token t is accepted with probability
    beta_t, given D_s drafts per start (exact dynamic programme over the finite trace); `caps`
    as in walk_with_lengths.

    tokens is always n; tokens / rounds is then the ratio of expectations, which is what a decoder
    measures as total tokens / total rounds over many prompts.
    """
    b = np.asarray(betas, dtype=np.float64)
    n = len(b)
    lengths = np.asarray(lengths, dtype=np.int64)
    early = (lengths < (lengths if caps is None else np.asarray(caps))).astype(float)
    k = int(lengths.max()) if n else 0
    prods = _prefix_products(b, k)
    rounds = np.zeros(n + 1)
    drafted = np.zeros(n + 1)
    accepted = np.zeros(n + 1)
    stopped = np.zeros(n + 1)
    for s in range(n - 1, -1, -1):
        d = int(lengths[s])
        a = np.arange(d + 1)
        # P(A = a) = prod_{j<a} beta * (1 - beta_{s+a}) for a < D; prod_{j<D} beta for a = D
        p_a = prods[s, : d + 1].copy()
        if d:
            p_a[:d] *= 1.0 - b[s : s + d]
        nxt = s + a + 1
        rounds[s] = 1.0 + p_a @ rounds[nxt]
        drafted[s] = d + p_a @ drafted[nxt]
        accepted[s] = p_a @ a + p_a @ accepted[nxt]
        stopped[s] = early[s] + p_a @ stopped[nxt]
    return WalkCounts(float(rounds[0]), float(drafted[0]), float(accepted[0]), float(n),
                      float(stopped[0]))  # fmt: skip


@dataclass
class MonteCarloEstimate:
    """Tokens per round over repeated simulated passes; `samples` holds one ratio per pass."""

    mean: float
    ci95: tuple[float, float]  # 2.5 / 97.5 percentiles of one pass over all prompts
    samples: np.ndarray


def monte_carlo_tokens_per_round(
    betas_per_prompt: list[np.ndarray],
    lengths_per_prompt: list[np.ndarray],
    n_passes: int = 400,
    seed: int = 0,
) -> MonteCarloEstimate:
    """Simulate `n_passes` decoder passes over all prompts: draft token t is accepted with
    probability beta_t. Each position is judged at most once per pass (rejected positions are not
    re-judged and the next round starts after them), so drawing one Bernoulli per position up
    front and walking the resulting match traces is exact in distribution.

    The interval is the spread of total tokens / total rounds of ONE pass over the prompts (what a
    single real decoder run would measure if the teacher-forced betas were exact)."""
    rng = np.random.default_rng(seed)
    tokens = 0.0
    rounds = np.zeros(n_passes)
    for betas, lengths in zip(betas_per_prompt, lengths_per_prompt, strict=True):
        rounds += monte_carlo_rounds(betas, [lengths], n_passes, rng)[0]
        tokens += len(betas)
    return monte_carlo_estimate(tokens, rounds)


def monte_carlo_rounds(
    betas: np.ndarray, lengths_per_policy: list[np.ndarray], n_passes: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Rounds per simulated pass over ONE prompt, for several policies (draft lengths) at once.
    The same Bernoulli draws serve every policy (common random numbers); sum the arrays over
    prompts pass by pass, then divide the prompts' total tokens by them."""
    b = np.asarray(betas, dtype=np.float64)
    n = len(b)
    if n == 0:
        return [np.zeros(n_passes) for _ in lengths_per_policy]
    run = _run_lengths(rng.random((n_passes, n)) < b[None, :])
    rows = np.arange(n_passes)
    out = []
    for lengths in lengths_per_policy:
        lengths = np.asarray(lengths, dtype=np.int64)
        rounds = np.zeros(n_passes)
        pos = np.zeros(n_passes, dtype=np.int64)
        live = rows
        while live.size:
            s = pos[live]
            pos[live] = s + np.minimum(run[live, s], lengths[s]) + 1
            rounds[live] += 1
            live = live[pos[live] < n]
        out.append(rounds)
    return out


def monte_carlo_estimate(tokens: float, rounds_per_pass: np.ndarray) -> MonteCarloEstimate:
    """Tokens per round of each pass (tokens / rounds), its mean and 2.5 / 97.5 percentiles."""
    ratios = tokens / np.maximum(np.asarray(rounds_per_pass, dtype=np.float64), 1)
    low, high = np.percentile(ratios, [2.5, 97.5])
    return MonteCarloEstimate(float(ratios.mean()), (float(low), float(high)), ratios)


# ---- coverage and per-position acceptance (the i.i.d. closed form: analytic/formulas.py) -----------------------------------------------------------------


def topk_coverage(ranks: np.ndarray, k: int) -> float:
    """P(target token within the draft's top-k): what a width-k tree can accept at one position.
    Ranks are 0-based; RANK_CAP (8) means "not in top 8", so k is at most 8."""
    if not 1 <= k <= RANK_CAP:
        raise ValueError(f"top-k coverage needs 1 <= k <= {RANK_CAP}, got {k}")
    r = np.asarray(ranks)
    return float((r < k).mean()) if r.size else 0.0


def acceptance_by_position(values_per_prompt: list[np.ndarray], k_max: int) -> list[float]:
    """P(the k-th draft token is accepted | the first k-1 were), k = 1..k_max, averaged over all
    start positions with a full window (values: matches as 0/1 for greedy, betas for sampled)."""
    num = np.zeros(k_max)
    den = np.zeros(k_max)
    for values in values_per_prompt:
        v = np.asarray(values, dtype=np.float64)
        n = len(v)
        prods = _prefix_products(v, k_max)  # prods[s, j] = prod_{i<j} v_{s+i}
        for k in range(1, k_max + 1):
            starts = n - k + 1  # windows s..s+k-1 inside the trace
            if starts <= 0:
                continue
            num[k - 1] += prods[:starts, k].sum()
            den[k - 1] += prods[:starts, k - 1].sum()
    return [float(x / y) if y > 0 else 0.0 for x, y in zip(num, den, strict=True)]
