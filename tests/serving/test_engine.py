"""The verification engine on a faithful fake target: batching across sessions, chunked prefill,
per-session rollback, limits, idle timeout, shutdown."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from configspec.serving.engine import EngineError, RoundJob, VerifyEngine
from configspec.speculative.decoder import target_only
from tests.fakes import FakeRunner, hashed_logits

V = 40


def engine(max_sessions=4, max_batch=4, window_s=0.05, chunk=4, ctx=256, idle_s=60.0):
    runner = FakeRunner(hashed_logits(11, V, peak=4.0), V)
    e = VerifyEngine(runner, max_sessions, ctx, max_batch, window_s, chunk, idle_s)
    e.start()
    return e, runner


class Client:
    """A session driven synchronously: open, round, close; answers via threading events."""

    def __init__(self, e: VerifyEngine, prompt: list[int], new_tokens: int = 40, k: int = 4):
        self.e = e
        self.opened = threading.Event()
        self.errors: list[EngineError] = []
        self.session = e.open(prompt, 0.0, 0, len(prompt) + new_tokens + k + 1,
                              lambda o: self.opened.set(), self.errors.append)  # fmt: skip

    def round(self, committed, drafted, index=0):
        done, box = threading.Event(), []

        def deliver(result):
            box.append(result)
            done.set()

        self.e.submit(RoundJob(self.session, index, committed, drafted, [None] * len(drafted),
                               time.perf_counter(), deliver))  # fmt: skip
        return done, box


def test_rounds_of_sessions_that_arrive_together_share_one_forward_call():
    e, runner = engine(window_s=0.5)
    try:
        clients = [Client(e, [1, 2, 3]), Client(e, [4, 5, 6, 7]), Client(e, [8, 9])]
        for c in clients:
            assert c.opened.wait(2)
        calls_before = runner.calls
        pending = [c.round([last], [1, 2]) for c, last in zip(clients, [3, 7, 9], strict=True)]
        for done, _ in pending:
            assert done.wait(2)
        assert runner.calls == calls_before + 1  # ONE forward call for the three rounds
        sizes = [box[0].batch_size for _, box in pending]
        assert sizes == [3, 3, 3]
        # each session's tokens went into its own sequence at its own position
        (batch,) = runner.batches[-1:]
        assert sorted(i.sequence for i in batch) == sorted(c.session.sequence for c in clients)
        assert [i.pos for i in batch] == [2, 3, 1]  # prompt[:-1] was prefilled
        # the call's record: the cells every open session held (one shared KV buffer)
        assert e.stats.batches[-1].held_tokens == 2 + 3 + 1
        assert e.stats.batches[-1].context_tokens == pytest.approx(2.0)
    finally:
        e.stop()


def test_the_window_is_not_waited_when_no_other_session_can_send():
    e, _ = engine(window_s=5.0)
    try:
        c = Client(e, [1, 2, 3])
        assert c.opened.wait(2)
        t0 = time.perf_counter()
        done, box = c.round([3], [1, 2])
        assert done.wait(2) and time.perf_counter() - t0 < 1.0
        assert box[0].batch_size == 1
    finally:
        e.stop()


def test_greedy_session_output_equals_the_targets_own_greedy_decoding():
    """Drive one session like an edge with a perfect and an imperfect draft: the committed
    sequence equals target-only greedy decoding (rollback after rejections is exact)."""
    e, runner = engine(chunk=3)
    try:
        prompt = [3, 1, 4, 1, 5, 9, 2, 6]
        reference = target_only(FakeRunner(runner.next_logits, V), prompt, 30)
        c = Client(e, prompt, new_tokens=30)
        assert c.opened.wait(2)
        committed, out, index = [prompt[-1]], [], 0
        rng = np.random.default_rng(0)
        while len(out) < 30:
            drafted = reference[len(out) : len(out) + 4]
            if rng.random() < 0.5 and drafted:  # spoil a draft token now and then
                drafted = [*drafted[:-1], (drafted[-1] + 1) % V]
            done, box = c.round(committed, drafted, index)
            assert done.wait(2)
            v = box[0]
            new = drafted[: v.accepted] + [v.token]
            out += new
            committed = [v.token]
            index += 1
        assert out[:30] == reference
    finally:
        e.stop()


def test_a_long_prefill_is_chunked_between_other_sessions_rounds():
    e, runner = engine(chunk=4, window_s=0.0)
    try:
        a = Client(e, [1, 2])
        assert a.opened.wait(2)
        b = Client(e, list(range(1, 30)))  # 28 tokens to prefill: 7 chunks
        for _ in range(3):
            done, box = a.round([2], [1])
            assert done.wait(2)
        assert b.opened.wait(5)
        prefill_sizes = [len(i.tokens) for batch in runner.batches for i in batch
                         if i.logits_from is None]  # fmt: skip
        assert max(prefill_sizes) <= 4 and sum(prefill_sizes) >= 28
        mixed = [batch for batch in runner.batches if len(batch) == 2]
        assert mixed, "no verification ran in the same call as a prefill chunk"
    finally:
        e.stop()


def test_limits_are_clear_refusals():
    e, _ = engine(max_sessions=1, ctx=32)
    try:
        with pytest.raises(EngineError) as info:
            e.open(list(range(40)), 0.0, 0, 45, lambda o: None, lambda err: None)
        assert info.value.code == "CONTEXT"
        Client(e, [1, 2], new_tokens=8)
        with pytest.raises(EngineError) as info:
            Client(e, [1, 2], new_tokens=8)
        assert info.value.code == "CAPACITY" and "--max-sessions" in str(info.value)
    finally:
        e.stop()


def test_a_session_opened_right_after_a_close_gets_the_cleared_sequence():
    """The engine thread clears a closed session's KV sequence between forward calls; a session
    opened before that (an edge's next prompt) waits for it instead of a CAPACITY refusal."""
    runner = FakeRunner(hashed_logits(11, V, peak=4.0), V)
    e = VerifyEngine(runner, 1, 256, 4, 0.05, 4, 60.0)  # not started: nothing is cleared yet
    try:
        a = Client(e, [1, 2, 3])
        e.close(a.session)
        b = Client(e, [5, 6, 7])
        assert b.session.sequence is None and not b.opened.is_set()
        with pytest.raises(EngineError) as info:  # the limit still counts open sessions
            Client(e, [8, 9])
        assert info.value.code == "CAPACITY"
        e.start()
        assert b.opened.wait(2) and b.session.sequence == 0
        assert runner.sequences[0] == [5, 6]  # b's prompt alone: a's sequence was cleared
    finally:
        e.stop()


def test_a_round_before_the_previous_verdict_is_refused():
    e, _ = engine(window_s=2.0)
    try:
        a, b = Client(e, [1, 2]), Client(e, [3, 4])  # b keeps a's round waiting in the window
        assert a.opened.wait(2) and b.opened.wait(2)
        first, _ = a.round([2], [1])
        done, box = a.round([2], [1])
        assert done.wait(1) and box[0].code == "BAD_MESSAGE"
        e.close(b.session)
        assert first.wait(3)
    finally:
        e.stop()


def test_idle_sessions_are_closed_and_their_sequence_freed():
    e, runner = engine(max_sessions=1, idle_s=0.3)
    try:
        c = Client(e, [1, 2, 3])
        assert c.opened.wait(2)
        time.sleep(1.5)
        assert [err.code for err in c.errors] == ["IDLE"]
        assert e.stats.sessions_idle_closed == 1
        assert runner.sequences[c.session.sequence] == []
        Client(e, [1, 2])  # the freed sequence serves a new session
    finally:
        e.stop()


def test_stop_answers_waiting_sessions_with_shutdown():
    e, _ = engine()
    c = Client(e, [1, 2])
    assert c.opened.wait(2)
    e.stop()
    assert [err.code for err in c.errors] == ["SHUTDOWN"]
    with pytest.raises(EngineError):
        Client(e, [1, 2])
