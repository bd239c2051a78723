"""A real speculative decoder on two runners: the draft proposes, the target verifies in one call.

Each round: the draft decodes up to K tokens one by one from its own KV cache (fixed K, or stopping
before a token whose confidence is below tau); an optional network delay is slept; the target
scores the last committed token plus the drafts in ONE forward call (K + 1 logit rows); tokens are
accepted greedily (draft token == target argmax) or by Leviathan's rejection sampling at a
temperature; the target emits one more token (correction or bonus); both KV caches roll back to
the accepted prefix. Counters follow vLLM's spec-decode metrics (vllm/v1/spec_decode/metrics.py).

Cache invariant: `committed` = prompt + generated tokens. The target's cache holds committed[:-1]
(the last committed token is fed at the head of the next verification). The draft's cache holds a
prefix of committed; `draft_pending` are the committed tokens it has not ingested yet (after a
proactive reuse hit it holds all of committed and the carried drafts but the last).

The target side is a `Verifier`: `TargetVerifier` runs the target in this process; the edge's
`RemoteVerifier` (configspec/serving/edge.py) asks a verification server over the network. The
draft loop, the acceptance rule (sampling.accept_round) and the record of each round are shared.
A round is submitted, then waited for; in between the decoder may draft proactively
(`overlap="proactive"`, SpecEdge): while the round is in flight the draft goes on from its own
last draft for up to K tokens (its guess for the target's bonus token, then the continuation).
When the target accepts every draft and its bonus equals that guess, the rest start the next
round's draft; otherwise they are discarded and the draft's cache rolls back (docs/decoder.md).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from configspec.errors import ConfigspecError
from configspec.runners.base import Runner
from configspec.speculative.sampling import accept_round, max_probability, sample, softmax, top_n

OVERLAPS = ("none", "proactive")


@dataclass(frozen=True)
class DecodeConfig:
    k: int  # the most draft tokens per round (K)
    temperature: float = 0.0  # 0: greedy; > 0: rejection sampling at this temperature
    tau: float | None = None  # confidence threshold: stop drafting before a token with max q < tau
    seed: int = 0  # numpy RNG seed for drafting and acceptance (sampled mode)
    rtt_s: float = 0.0  # network round trip slept between drafting and verification
    max_new_tokens: int = 128
    stop_tokens: frozenset[int] = frozenset()  # e.g. EOS: generation ends after emitting one
    top_n: int | None = None  # sampled mode: the draft samples from (and sends) its top-n only
    overlap: str = "none"  # none | proactive: draft the next round while this one is verified

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ConfigspecError(f"K must be at least 1 (got {self.k})")
        if self.temperature < 0:
            raise ConfigspecError(f"temperature must be >= 0 (got {self.temperature})")
        if self.tau is not None and not 0.0 <= self.tau <= 1.0:
            raise ConfigspecError(f"tau is a probability in [0, 1] (got {self.tau})")
        if self.max_new_tokens < 1:
            raise ConfigspecError("max_new_tokens must be at least 1")
        if self.top_n is not None and self.top_n < 1:
            raise ConfigspecError(f"top-n must be at least 1 (got {self.top_n})")
        if self.overlap not in OVERLAPS:
            raise ConfigspecError(f"overlap is one of {', '.join(OVERLAPS)} (got {self.overlap!r})")
        if self.overlap == "proactive" and self.tau is not None:
            raise ConfigspecError("proactive drafting drafts a fixed K; drop the threshold tau")

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
    # Over the network (RemoteVerifier): the server's own account of the round, and the bytes
    # the transport carried for it. net_s is then the time on the wire: wait - server_s.
    server_queue_s: float | None = None  # arrival at the server to the start of its batch
    server_s: float | None = None  # arrival to answer, all server work
    batch_size: int | None = None  # sessions verified in the same forward call
    batch_tokens: int | None = None
    bytes_up: int | None = None
    bytes_down: int | None = None
    # Proactive drafting (overlap="proactive"); the pre-drafting runs while the round is in
    # flight, so predraft_s overlaps net_s + verify_s and is not part of total_s's split.
    carried: int = 0  # drafts this round started with: the previous round's confirmed pre-drafts
    predrafted: list[int] = field(default_factory=list)  # drafted while this round was in flight
    predraft_s: float = 0.0
    reuse_hit: bool = False  # every draft accepted and the bonus equals predrafted[0]
    wasted: int = 0  # pre-drafted tokens discarded
    late_s: float = 0.0  # the verdict's arrival to the end of the pre-draft step in progress


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
            for phase in ("draft", "net", "verify", "late", "other", "total")
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


@dataclass
class Verdict:
    """The target's answer to one round."""

    accepted: int  # A: a prefix of the drafts
    token: int  # the target's token after them (correction or bonus)
    target_argmax: list[int]  # argmax of the verification rows, where known
    net_s: float = 0.0  # injected delay (local) or time on the wire (remote)
    verify_s: float = 0.0  # the target's forward call
    late_s: float = 0.0  # arrival to the decoder's wait(): it was still drafting proactively
    server_queue_s: float | None = None
    server_s: float | None = None
    batch_size: int | None = None
    batch_tokens: int | None = None
    bytes_up: int | None = None
    bytes_down: int | None = None


class Verifier(ABC):
    """The target's side of speculative decoding: prefill the prompt, verify rounds. A round is
    submitted, then waited for; the decoder may draft in between (proactive drafting)."""

    n_ctx: int

    @abstractmethod
    def start(self, prompt: list[int], config: DecodeConfig) -> None:
        """Begin a sequence: the target's cache holds prompt[:-1] afterwards."""

    @abstractmethod
    def submit(
        self, pending: list[int], drafted: list[int], q_rows: list[np.ndarray | None]
    ) -> None:
        """Send one round: the committed tokens the target has not seen (`pending`, at least
        one) and the drafts; the target keeps the accepted prefix in its cache."""

    @abstractmethod
    def arrived(self) -> bool:
        """Whether the submitted round's verdict is here (never blocks)."""

    @abstractmethod
    def wait(self) -> Verdict:
        """The submitted round's verdict (blocks until it arrives)."""

    def verify(
        self, pending: list[int], drafted: list[int], q_rows: list[np.ndarray | None]
    ) -> Verdict:
        """One round, submitted and waited for."""
        self.submit(pending, drafted, q_rows)
        return self.wait()

    def ready(self) -> None:  # noqa: B027 - optional hook
        """Wait until start() has finished (a remote server prefills while the draft does)."""

    def finish(self) -> None:  # noqa: B027 - optional hook
        """End the sequence (a remote session is closed)."""

    def representable(self, q: np.ndarray) -> np.ndarray:
        """The proposal distribution as this verifier will see it (a remote one receives float16):
        the draft samples from exactly this, so rejection sampling stays exact."""
        return q


class TargetVerifier(Verifier):
    """The target in this process: one forward call over pending + drafts, then roll back.

    The call runs at submit() on this process's cores, so nothing but the emulated round trip
    (`rtt_s`) is in flight: the verdict counts as arrived rtt_s after the call, and proactive
    drafting overlaps that delay only."""

    def __init__(self, target: Runner, clock: Callable[[], float] = time.perf_counter):
        self.target = target
        self.n_ctx = target.n_ctx
        self._clock = clock

    def start(self, prompt: list[int], config: DecodeConfig) -> None:
        self.config = config
        self.rng = np.random.default_rng([config.seed, 1])  # acceptance draws (sampled mode)
        self.target.reset()
        if len(prompt) > 1:
            self.target.forward(prompt[:-1])

    def submit(self, pending, drafted, q_rows) -> None:
        t_sent = self._clock()
        base = self.target.n_past
        rows = self.target.forward([*pending, *drafted], all_logits=True)[len(pending) - 1 :]
        t_verified = self._clock()
        accepted, token = accept_round(drafted, q_rows, rows, self.config.temperature, self.rng)
        self.target.rollback(base + len(pending) + accepted)
        self._verdict = Verdict(
            accepted=accepted, token=token, target_argmax=[int(np.argmax(r)) for r in rows],
            net_s=self.config.rtt_s, verify_s=t_verified - t_sent,
        )  # fmt: skip
        self._due = self._clock() + self.config.rtt_s

    def arrived(self) -> bool:
        return self._clock() >= self._due

    def wait(self) -> Verdict:
        self._verdict.late_s = max(0.0, self._clock() - self._due)
        if (rest := self._due - self._clock()) > 0:
            time.sleep(rest)
        return self._verdict


def _check_context(draft: Runner, verifier: Verifier, prompt: list[int], config: DecodeConfig):
    if len(prompt) < 1:
        raise ConfigspecError("the prompt has no tokens")
    need = len(prompt) + config.max_new_tokens + config.k + 1
    for role, n_ctx in (("draft", draft.n_ctx), ("target", verifier.n_ctx)):
        if need > n_ctx:
            raise ConfigspecError(
                f"the {role}'s context of {n_ctx} tokens cannot hold prompt + new tokens + "
                f"K + 1 = {need}; open it with a larger n_ctx or generate fewer tokens"
            )


class SpeculativeDecoder:
    """Greedy or lossless-sampling speculative decoding of one sequence: a draft runner here,
    the target a Runner in this process or any Verifier (a verification server)."""

    def __init__(
        self, draft: Runner, target: Runner | Verifier,
        clock: Callable[[], float] = time.perf_counter,
    ):  # fmt: skip
        self.draft = draft
        self.verifier = target if isinstance(target, Verifier) else TargetVerifier(target, clock)
        self._clock = clock

    def generate(
        self, prompt: list[int], config: DecodeConfig,
        on_round: Callable[[RoundRecord], None] | None = None,
    ) -> SpecResult:  # fmt: skip
        """Decode `prompt`; `on_round` hears of every round as it ends (a caller keeps what was
        measured even when a remote verifier fails mid-run)."""
        _check_context(self.draft, self.verifier, prompt, config)
        clock = self._clock
        rng = np.random.default_rng(config.seed)  # the draft's sampling
        draft, verifier = self.draft, self.verifier
        t0 = clock()
        draft.reset()
        verifier.start(prompt, config)
        try:
            if len(prompt) > 1:
                draft.forward(prompt[:-1])
            verifier.ready()
            result = SpecResult(config, len(prompt), [], prefill_s=clock() - t0)
            committed = list(prompt)
            draft_pending = [prompt[-1]]
            carried: list[int] = []  # confirmed pre-drafts that start the next round's draft
            carried_q: list[np.ndarray | None] = []
            t_decode = clock()
            done = False
            while not done:
                t_round = clock()
                n_carried, base = len(carried), len(committed)
                remaining = config.max_new_tokens - len(result.tokens)
                # the target adds a token of its own, so drafting past remaining - 1 is waste
                # (the walk's end-of-text cut, configspec/alignment/walk.py)
                most = min(config.k, remaining - 1)
                drafted, q_rows, calls = self._draft(draft_pending, config, rng, carried,
                                                     carried_q, most)  # fmt: skip
                t_drafted = clock()
                # the target holds committed[:-1]: the last committed token leads the round
                verifier.submit(committed[-1:], drafted, q_rows)
                pre, pre_q, pre_s = [], [], 0.0
                if config.overlap == "proactive" and _continues(drafted, remaining, config):
                    # a hit emits len(drafted) + 1; the next round drafts at most what is left - 1
                    pre_most = min(config.k, remaining - len(drafted) - 1)
                    pre, pre_q, pre_s = self._predraft(drafted[-1], config, rng, pre_most)
                verdict = verifier.wait()
                hit = bool(pre) and verdict.accepted == len(drafted) and verdict.token == pre[0]
                emitted, done = _truncate(drafted[: verdict.accepted] + [verdict.token],
                                          remaining, config.stop_tokens)  # fmt: skip
                committed += emitted
                result.tokens += emitted
                if hit:  # the draft's cache holds committed + pre[1:-1]; pre[1:] start the next
                    carried, carried_q = pre[1:], pre_q[1:]
                    draft_pending = committed[draft.n_past :]
                else:  # keep the accepted part of (committed + drafted + pre)[:n_past]
                    keep = min(draft.n_past, base + verdict.accepted)
                    draft.rollback(keep)
                    carried, carried_q = [], []
                    draft_pending = committed[keep:]
                record = _record(drafted, emitted, verdict, calls, t_round, t_drafted, clock())
                record.carried, record.predrafted, record.predraft_s = n_carried, pre, pre_s
                record.reuse_hit = hit
                # on a hit pre[0] is the bonus token; the rest are used unless generation ended
                record.wasted = (len(pre) - 1 if done else 0) if hit else len(pre)
                result.rounds.append(record)
                if on_round:
                    on_round(record)
        finally:
            verifier.finish()
        result.decode_s = clock() - t_decode
        return result

    def _draft(
        self, pending: list[int], config: DecodeConfig, rng: np.random.Generator,
        carried: list[int], carried_q: list[np.ndarray | None], most: int,
    ) -> tuple[list[int], list[np.ndarray | None], int]:  # fmt: skip
        """Up to `most` (K, less at the end of the text) draft tokens, one forward call each,
        after the `carried` ones (pre-drafted and confirmed; their last one is not in the draft's
        cache yet, `pending` is then empty); their draft distributions (sampled mode) and the
        forward calls made."""
        drafted, q_rows = list(carried), list(carried_q)
        feed = [drafted[-1]] if drafted else pending
        calls = 0
        temperature = config.temperature or 1.0  # confidence is read at T = 1 when greedy
        while len(drafted) < most:
            logits = self.draft.forward(feed)
            calls += 1
            if config.tau is not None and max_probability(logits, temperature) < config.tau:
                break
            token, q = self._choose(logits, config, rng)
            drafted.append(token)
            q_rows.append(q)
            feed = [token]
        return drafted, q_rows, calls

    def _predraft(
        self, last_draft: int, config: DecodeConfig, rng: np.random.Generator, most: int
    ) -> tuple[list[int], list[np.ndarray | None], float]:
        """Proactive drafting while the round is in flight: from the round's last draft (not in
        the draft's cache yet), up to `most` tokens (K, less at the end of the text), stopping at
        the first step that ends after the verdict arrived or on a stop token. The first is the
        draft's guess for the bonus token."""
        t0 = self._clock()
        tokens: list[int] = []
        q_rows: list[np.ndarray | None] = []
        feed = [last_draft]
        while len(tokens) < most and not self.verifier.arrived():
            token, q = self._choose(self.draft.forward(feed), config, rng)
            tokens.append(token)
            q_rows.append(q)
            if token in config.stop_tokens:
                break
            feed = [token]
        return tokens, q_rows, self._clock() - t0

    def _choose(
        self, logits: np.ndarray, config: DecodeConfig, rng: np.random.Generator
    ) -> tuple[int, np.ndarray | None]:
        """Greedy: the argmax. Sampled: a draw from q (top-n, as the verifier will see it)."""
        if config.greedy:
            return int(np.argmax(logits)), None
        q = softmax(logits, config.temperature)
        if config.top_n is not None:
            q = top_n(q, config.top_n)
        q = self.verifier.representable(q)
        return sample(q, rng), q


def _continues(drafted: list[int], remaining: int, config: DecodeConfig) -> bool:
    """Whether a fully accepted round leaves work for a next one (pre-drafting is worth it)."""
    return (
        bool(drafted)
        and remaining > len(drafted) + 1
        and not config.stop_tokens.intersection(drafted)
    )


def _record(
    drafted: list[int], emitted: list[int], verdict: Verdict, calls: int, t_round: float,
    t_drafted: float, t_end: float,
) -> RoundRecord:  # fmt: skip
    """The round's times: draft, wire (net_s), the target's call (verify_s), the verdict's wait
    for a pre-draft step in progress (late_s), and the rest."""
    draft_s, total_s = t_drafted - t_round, t_end - t_round
    return RoundRecord(
        drafted=drafted, accepted=verdict.accepted, emitted=emitted,
        target_argmax=verdict.target_argmax, draft_calls=calls, draft_s=draft_s,
        net_s=verdict.net_s, verify_s=verdict.verify_s, late_s=verdict.late_s,
        other_s=total_s - draft_s - verdict.net_s - verdict.verify_s - verdict.late_s,
        total_s=total_s,
        server_queue_s=verdict.server_queue_s, server_s=verdict.server_s,
        batch_size=verdict.batch_size, batch_tokens=verdict.batch_tokens,
        bytes_up=verdict.bytes_up, bytes_down=verdict.bytes_down,
    )  # fmt: skip


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
