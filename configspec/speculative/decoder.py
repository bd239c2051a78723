"""A real speculative decoder on two runners: the draft proposes, the target verifies in one call.

Each round: the draft decodes up to K tokens one by one from its own KV cache (fixed K, or stopping
before a token whose confidence is below tau); an optional network delay is slept; the target
scores the last committed token plus the drafts in ONE forward call (K + 1 logit rows); tokens are
accepted greedily (draft token == target argmax) or by Leviathan's rejection sampling at a
temperature; the target emits one more token (correction or bonus); both KV caches roll back to
the accepted prefix. Counters follow vLLM's spec-decode metrics (vllm/v1/spec_decode/metrics.py).

Cache invariant: `committed` = prompt + generated tokens. The target's cache holds committed[:-1]
(the last committed token is fed at the head of the next verification). The draft's cache holds a
prefix of committed; `draft_pending` are the committed tokens it has not ingested yet.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from configspec.errors import ConfigspecError
from configspec.runners.base import Runner
from configspec.speculative.sampling import accept_draft_token, max_probability, sample, softmax


@dataclass(frozen=True)
class DecodeConfig:
    k: int  # the most draft tokens per round (K)
    temperature: float = 0.0  # 0: greedy; > 0: rejection sampling at this temperature
    tau: float | None = None  # confidence threshold: stop drafting before a token with max q < tau
    seed: int = 0  # numpy RNG seed for drafting and acceptance (sampled mode)
    rtt_s: float = 0.0  # network round trip slept between drafting and verification
    max_new_tokens: int = 128
    stop_tokens: frozenset[int] = frozenset()  # e.g. EOS: generation ends after emitting one

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ConfigspecError(f"K must be at least 1 (got {self.k})")
        if self.temperature < 0:
            raise ConfigspecError(f"temperature must be >= 0 (got {self.temperature})")
        if self.tau is not None and not 0.0 <= self.tau <= 1.0:
            raise ConfigspecError(f"tau is a probability in [0, 1] (got {self.tau})")
        if self.max_new_tokens < 1:
            raise ConfigspecError("max_new_tokens must be at least 1")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


@dataclass
class RoundRecord:
    """One draft-verify round."""

    drafted: list[int]  # tokens the draft proposed (D of them, D <= K)
    accepted: int  # A: how many of them the target accepted (a prefix)
    emitted: list[int]  # drafted[:A] + the correction/bonus token (truncated at the end)
    target_argmax: list[int]  # argmax of each of the D + 1 verification rows
    draft_calls: int  # draft forward calls this round (D, or D + 1 when tau stopped it)
    draft_s: float  # draft forward calls and token choice
    net_s: float  # the injected network delay
    verify_s: float  # the target's one forward call
    other_s: float  # acceptance test, sampling, cache rollback, bookkeeping
    total_s: float


@dataclass
class SpecMetrics:
    """vLLM's spec-decode counters over a run."""

    num_drafts: int  # rounds that drafted at least one token
    num_draft_tokens: int
    num_accepted_tokens: int
    num_accepted_tokens_per_pos: list[int]  # index i: rounds whose draft token i was accepted

    @property
    def mean_acceptance_length(self) -> float:
        """vLLM's figure: 1 + accepted / drafts (the +1 is the target's own token)."""
        return 1.0 + self.num_accepted_tokens / self.num_drafts if self.num_drafts else 1.0

    @property
    def draft_acceptance_rate(self) -> float:
        return self.num_accepted_tokens / self.num_draft_tokens if self.num_draft_tokens else 0.0


@dataclass
class SpecResult:
    config: DecodeConfig
    prompt_tokens: int
    tokens: list[int]  # generated tokens (at most max_new_tokens; ends at a stop token if any)
    rounds: list[RoundRecord] = field(default_factory=list)
    prefill_s: float = 0.0
    decode_s: float = 0.0  # wall time of all rounds

    @property
    def tokens_per_round(self) -> float:
        return len(self.tokens) / len(self.rounds) if self.rounds else 0.0

    @property
    def tokens_per_s(self) -> float:
        return len(self.tokens) / self.decode_s if self.decode_s > 0 else 0.0

    def metrics(self, k_max: int | None = None) -> SpecMetrics:
        width = k_max or max((len(r.drafted) for r in self.rounds), default=0)
        per_pos = [0] * width
        for r in self.rounds:
            for i in range(r.accepted):
                per_pos[i] += 1
        return SpecMetrics(
            num_drafts=sum(1 for r in self.rounds if r.drafted),
            num_draft_tokens=sum(len(r.drafted) for r in self.rounds),
            num_accepted_tokens=sum(r.accepted for r in self.rounds),
            num_accepted_tokens_per_pos=per_pos,
        )

    def time_split_s(self) -> dict[str, float]:
        """Total seconds per phase over all rounds."""
        return {
            phase: float(sum(getattr(r, f"{phase}_s") for r in self.rounds))
            for phase in ("draft", "net", "verify", "other", "total")
        }


def _truncate(
    emitted: list[int], budget: int, stop_tokens: Iterable[int]
) -> tuple[list[int], bool]:
    """Cut `emitted` to the remaining budget and after the first stop token; say if generation ends."""
    stops = set(stop_tokens)
    for i, token in enumerate(emitted[:budget]):
        if token in stops:
            return emitted[: i + 1], True
    return emitted[:budget], len(emitted) >= budget


def _check_pair(draft: Runner, target: Runner, prompt: list[int], config: DecodeConfig) -> None:
    if len(prompt) < 1:
        raise ConfigspecError("the prompt has no tokens")
    need = len(prompt) + config.max_new_tokens + config.k + 1
    for role, runner in (("draft", draft), ("target", target)):
        if need > runner.n_ctx:
            raise ConfigspecError(
                f"the {role}'s context of {runner.n_ctx} tokens cannot hold prompt + new tokens + "
                f"K + 1 = {need}; open it with a larger n_ctx or generate fewer tokens"
            )


class SpeculativeDecoder:
    """Greedy or lossless-sampling speculative decoding of one sequence on a draft/target pair."""

    def __init__(
        self, draft: Runner, target: Runner, clock: Callable[[], float] = time.perf_counter
    ):
        self.draft = draft
        self.target = target
        self._clock = clock

    def generate(self, prompt: list[int], config: DecodeConfig) -> SpecResult:
        _check_pair(self.draft, self.target, prompt, config)
        clock = self._clock
        rng = np.random.default_rng(config.seed)
        draft, target = self.draft, self.target
        t0 = clock()
        draft.reset()
        target.reset()
        if len(prompt) > 1:
            draft.forward(prompt[:-1])
            target.forward(prompt[:-1])
        result = SpecResult(config, len(prompt), [], prefill_s=clock() - t0)
        committed = list(prompt)
        draft_pending = [prompt[-1]]
        done = False
        t_decode = clock()
        while not done:
            t_round = clock()
            drafted, q_rows, calls = self._draft(draft_pending, config, rng)
            t_drafted = clock()
            if config.rtt_s > 0:
                time.sleep(config.rtt_s)
            t_sent = clock()
            base = target.n_past
            rows = target.forward([committed[-1], *drafted], all_logits=True)
            t_verified = clock()
            accepted, extra = self._accept(drafted, q_rows, rows, config, rng)
            # The target keeps the last committed token and the accepted drafts; `extra` is fed
            # at the head of the next round.
            target.rollback(base + 1 + accepted)
            draft_seq_len = draft.n_past  # its cache holds (committed + drafted)[:draft_seq_len]
            emitted, done = _truncate(
                drafted[:accepted] + [extra],
                config.max_new_tokens - len(result.tokens),
                config.stop_tokens,
            )
            keep = min(draft_seq_len, len(committed) + accepted)
            draft.rollback(keep)
            committed += emitted
            result.tokens += emitted
            draft_pending = committed[keep:]
            t_end = clock()
            result.rounds.append(
                RoundRecord(
                    drafted=drafted, accepted=accepted, emitted=emitted,
                    target_argmax=[int(np.argmax(row)) for row in rows], draft_calls=calls,
                    draft_s=t_drafted - t_round, net_s=t_sent - t_drafted,
                    verify_s=t_verified - t_sent,
                    other_s=t_end - t_verified, total_s=t_end - t_round,
                )
            )  # fmt: skip
        result.decode_s = clock() - t_decode
        return result

    def _draft(
        self, pending: list[int], config: DecodeConfig, rng: np.random.Generator
    ) -> tuple[list[int], list[np.ndarray | None], int]:
        """Up to K draft tokens, one forward call each; their draft distributions (sampled mode)."""
        drafted: list[int] = []
        q_rows: list[np.ndarray | None] = []
        feed = pending
        calls = 0
        temperature = config.temperature or 1.0  # confidence is read at T = 1 when greedy
        while len(drafted) < config.k:
            logits = self.draft.forward(feed)
            calls += 1
            if config.tau is not None and max_probability(logits, temperature) < config.tau:
                break
            if config.greedy:
                token, q = int(np.argmax(logits)), None
            else:
                q = softmax(logits, config.temperature)
                token = sample(q, rng)
            drafted.append(token)
            q_rows.append(q)
            feed = [token]
        return drafted, q_rows, calls

    @staticmethod
    def _accept(
        drafted: list[int], q_rows: list[np.ndarray | None], rows: np.ndarray,
        config: DecodeConfig, rng: np.random.Generator,
    ) -> tuple[int, int]:  # fmt: skip
        """How many drafts the target accepts, and the token it emits after them."""
        if config.greedy:
            for i, token in enumerate(drafted):
                best = int(np.argmax(rows[i]))
                if best != token:
                    return i, best
            return len(drafted), int(np.argmax(rows[len(drafted)]))
        for i, token in enumerate(drafted):
            p = softmax(rows[i], config.temperature)
            ok, correction = accept_draft_token(token, p, q_rows[i], rng)
            if not ok:
                return i, correction
        return len(drafted), sample(softmax(rows[len(drafted)], config.temperature), rng)


def target_only(
    target: Runner, prompt: list[int], max_new_tokens: int, temperature: float = 0.0,
    seed: int = 0, stop_tokens: Iterable[int] = (),
) -> list[int]:  # fmt: skip
    """Plain autoregressive decoding on the target, one token per forward call (the reference)."""
    rng = np.random.default_rng(seed)
    stops = set(stop_tokens)
    target.reset()
    if len(prompt) > 1:
        target.forward(prompt[:-1])
    token, out = prompt[-1], []
    while len(out) < max_new_tokens:
        logits = target.forward([token])
        token = (
            int(np.argmax(logits))
            if temperature == 0
            else sample(softmax(logits, temperature), rng)
        )
        out.append(token)
        if token in stops:
            break
    return out
