"""Proactive drafting on faithful fake runners: the reuse and discard paths, the draft's cache,
greedy losslessness and the target's distribution in sampled mode, and the round's timings."""

from __future__ import annotations

import time

import numpy as np
import pytest

from configspec.errors import ConfigspecError
from configspec.speculative import DecodeConfig, SpeculativeDecoder, target_only
from configspec.speculative.decoder import TargetVerifier
from configspec.speculative.sampling import softmax
from tests.fakes import FakeRunner, table_logits
from tests.speculative.test_decoder import PROMPT, V, _chi2_pvalue, _transition_counts, pair


class InFlightFor(TargetVerifier):
    """The in-process target, whose verdict counts as arrived after `polls` arrived() calls:
    the decoder pre-drafts exactly min(K, polls) tokens, deterministically."""

    def __init__(self, target, polls: int):
        super().__init__(target)
        self.polls = polls

    def submit(self, pending, drafted, q_rows) -> None:
        super().submit(pending, drafted, q_rows)
        self._left = self.polls

    def arrived(self) -> bool:
        self._left -= 1
        return self._left < 0


def proactive(k: int, polls: int = 64, n: int = 80, **config):
    draft, target = pair()
    verifier = InFlightFor(target, polls)
    result = SpeculativeDecoder(draft, verifier).generate(
        PROMPT, DecodeConfig(k=k, max_new_tokens=n, overlap="proactive", **config)
    )
    return result, draft, target


@pytest.mark.parametrize("k", [1, 2, 4, 8])
@pytest.mark.parametrize("polls", [1, 3, 64])
def test_greedy_output_with_proactive_drafting_equals_the_targets(k, polls):
    result, _, target = proactive(k, polls)
    assert result.tokens == target_only(FakeRunner(target.next_logits, V), PROMPT, 80)
    hits = [r for r in result.rounds if r.reuse_hit]
    misses = [r for r in result.rounds if r.predrafted and not r.reuse_hit]
    assert hits and misses  # both paths were taken
    generated = 0
    for r in result.rounds:  # pre-drafts stop at the verdict, at K, and where the text ends
        if r.predrafted:
            assert len(r.predrafted) == min(k, polls, 80 - generated - len(r.drafted) - 1)
        generated += len(r.emitted)


@pytest.mark.parametrize("k", [1, 3, 6])
def test_rounds_are_those_of_the_synchronous_decoder(k):
    """Same drafts, same acceptances, round by round: pre-drafting changes when tokens are
    drafted, never which."""
    draft, target = pair()
    plain = SpeculativeDecoder(draft, target).generate(PROMPT, DecodeConfig(k=k, max_new_tokens=80))
    result, _, _ = proactive(k)
    assert [(r.drafted, r.accepted) for r in result.rounds] == [
        (r.drafted, r.accepted) for r in plain.rounds
    ]


def test_a_hit_is_all_accepted_and_the_bonus_guessed():
    result, _, _ = proactive(3)
    for r in result.rounds:
        if r.predrafted:
            guessed = r.accepted == len(r.drafted) and r.emitted[-1] == r.predrafted[0]
            assert r.reuse_hit == guessed


def test_reuse_path_starts_the_next_draft_with_the_confirmed_tokens():
    k = 4
    result, draft, _ = proactive(k)
    rounds = result.rounds
    generated = len(rounds[0].emitted)
    for prev, r in zip(rounds, rounds[1:], strict=False):
        most = min(k, 80 - generated - 1)  # K, less where the text ends
        if prev.reuse_hit:
            assert r.carried == len(prev.predrafted) - 1
            assert r.drafted[: r.carried] == prev.predrafted[1:]
            assert r.draft_calls == most - r.carried  # only the rest was drafted this round
        else:
            assert r.carried == 0 and r.draft_calls == most
        generated += len(r.emitted)
        assert r.wasted == (0 if r.reuse_hit else len(r.predrafted)) or r is rounds[-1]
    # every forward call of the draft: the prompt, the rounds' own drafts and the pre-drafts
    assert draft.calls == 1 + sum(r.draft_calls + len(r.predrafted) for r in rounds)


def test_discard_path_rolls_the_draft_cache_back_to_the_committed_tokens():
    """After every round, whatever was pre-drafted, the draft's cache is a prefix of the
    committed text (plus, after a hit, the carried drafts it has fed)."""
    draft, target = pair()
    seen = []

    def check(record):
        seen.append(record)
        committed = PROMPT + [t for r in seen for t in r.emitted]
        if record.reuse_hit:
            fed = committed + record.predrafted[1:-1]
            assert draft.cache == fed[: draft.n_past] and draft.n_past >= len(committed) - 1
        else:
            assert draft.cache == committed[: draft.n_past]
            assert draft.n_past >= len(committed) - 1 - record.accepted  # rolled back, not reset

    SpeculativeDecoder(draft, InFlightFor(target, 64)).generate(
        PROMPT, DecodeConfig(k=4, max_new_tokens=80, overlap="proactive"), on_round=check
    )
    assert any(r.wasted for r in seen) and any(r.reuse_hit for r in seen)


def test_no_pre_drafting_when_the_round_cannot_be_followed():
    """The last rounds (the token budget) and rounds holding a stop token pre-draft nothing."""
    draft, target = pair()
    reference = target_only(FakeRunner(target.next_logits, V), PROMPT, 60)
    stop = reference[17]
    result = SpeculativeDecoder(draft, InFlightFor(target, 64)).generate(
        PROMPT,
        DecodeConfig(k=4, max_new_tokens=60, stop_tokens=frozenset({stop}), overlap="proactive"),
    )
    assert result.tokens == reference[: reference.index(stop) + 1]
    assert result.rounds[-1].predrafted == []
    short, _, _ = proactive(4, n=5)
    assert all(r.predrafted == [] for r in short.rounds)


def test_sampled_mode_with_proactive_drafting_keeps_the_targets_distribution():
    """A pre-drafted continuation is drawn from q given the guessed bonus, independently of the
    target's acceptance draws, so rejection sampling stays exact when it is reused."""
    n = 5
    table_p = np.random.default_rng(1).dirichlet(np.ones(n), size=n)
    table_q = np.random.default_rng(2).dirichlet(np.ones(n), size=n)
    draft = FakeRunner(table_logits(table_q), n, n_ctx=12_000)
    target = FakeRunner(table_logits(table_p), n, n_ctx=12_000)
    config = DecodeConfig(k=3, temperature=1.0, seed=1234, max_new_tokens=8_000,
                          overlap="proactive")  # fmt: skip
    result = SpeculativeDecoder(draft, InFlightFor(target, 64)).generate([0], config)
    counts = _transition_counts([0, *result.tokens], n)
    p = np.stack([softmax(np.log(row), 1.0) for row in table_p])
    q = np.stack([softmax(np.log(row), 1.0) for row in table_q])
    assert _chi2_pvalue(counts, p) > 1e-3
    assert _chi2_pvalue(counts, q) < 1e-12
    assert sum(r.reuse_hit for r in result.rounds) > 50  # the reuse path carried real weight


class SlowDraft(FakeRunner):
    def forward(self, tokens, all_logits=False):
        time.sleep(self.step_s)
        return super().forward(tokens, all_logits)


def test_pre_drafting_stops_at_the_verdict_and_its_lateness_is_timed():
    """In process, the verdict arrives rtt_s after the target's call: a draft step of 30 ms
    against a 45 ms round trip pre-drafts two tokens of K = 4, the second ending after the
    verdict arrived (late_s); the round's parts add up to its total."""
    _, target = pair()
    draft = SlowDraft(pair()[0].next_logits, V)
    draft.step_s = 0.03
    result = SpeculativeDecoder(draft, target).generate(
        PROMPT, DecodeConfig(k=4, rtt_s=0.045, max_new_tokens=24, overlap="proactive")
    )
    assert result.tokens == target_only(FakeRunner(target.next_logits, V), PROMPT, 24)
    pre_drafting = [r for r in result.rounds if r.predrafted]
    assert pre_drafting and all(1 <= len(r.predrafted) < 4 for r in pre_drafting)
    assert any(r.late_s > 0 for r in pre_drafting)
    for r in result.rounds:
        assert r.late_s <= r.predraft_s
        parts = r.draft_s + r.net_s + r.verify_s + r.late_s + r.other_s
        assert parts == pytest.approx(r.total_s)


def test_proactive_drafting_refuses_a_threshold_and_unknown_overlaps():
    with pytest.raises(ConfigspecError, match="fixed K"):
        DecodeConfig(k=4, tau=0.5, overlap="proactive")
    with pytest.raises(ConfigspecError, match="overlap is one of none, proactive"):
        DecodeConfig(k=4, overlap="async")
