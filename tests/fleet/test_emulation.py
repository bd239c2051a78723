"""The load generator (Locust under gevent, its own process) against configspec's real gRPC
server on a fake target: every round verified as the traces predict, the figures of the fleet
profile, and a wrong trace caught."""

from __future__ import annotations

import time
from pathlib import Path

from configspec.alignment.tokenizers import tokenizer_fingerprint
from configspec.fleet.run import FleetOptions, Prepared, emulate, probe_server
from configspec.fleet.spec import Arrival
from tests.fakes import FakeRunner, hashed_logits
from tests.fleet.builders import TARGET_FN, V, fleet_inputs, group_inputs, prompts
from tests.serving.fake_server import FakeServer


def run(inputs, server: FakeServer, duration_s: float = 3.0, warmup_s: float = 1.0):
    hello = probe_server(server.address)
    prepared = Prepared(inputs, {"fake-draft": tokenizer_fingerprint(server.runner)}, hello, [])
    options = FleetOptions(fleet=Path("fleet.yaml"), server=server.address,
                           duration_s=duration_s, warmup_s=warmup_s, round_timeout_s=20)  # fmt: skip
    return emulate(prepared, options)


def test_a_mixed_fleet_is_verified_as_the_traces_predict():
    inputs = fleet_inputs(
        group_inputs("fixed", count=2, k=2),
        group_inputs("threshold", count=2, k=4, tau=0.5, rtt_ms=20),
        group_inputs("open", count=1, k=3, arrival=Arrival(kind="open", sessions_per_s=2.0)),
    )
    with FakeServer(FakeRunner(TARGET_FN, V), max_sessions=8, max_batch=4, window_s=0.005) as s:
        profile = run(inputs, s)
    assert profile.rounds_checked > 20
    assert profile.rounds_not_as_predicted == 0, profile.warnings
    assert profile.sessions_failed == profile.sessions_timed_out == 0
    # every round's session is on record, those the end of the run cut included (as_played)
    sessions = {(x.group, x.device, x.session) for x in profile.session_samples}
    assert {(r.group, r.device, r.session) for r in profile.round_samples} <= sessions
    by_name = {g.name: g for g in profile.groups}
    for g in by_name.values():
        assert g.rounds > 0 and g.goodput_tok_s > 0 and g.tokens_per_round >= 1
        assert g.inter_token_latency_s["p99"] >= g.inter_token_latency_s["p50"] > 0
        assert g.bytes_up_per_round > 48 and g.bytes_down_per_round > 48
        assert g.edge_j_per_token > 0 and "estimated:test" in g.edge_energy_source
    assert by_name["fixed"].drafted_per_round <= 2
    assert by_name["threshold"].wait_s_per_round > 0.02  # the relay's emulated 20 ms round trip
    assert by_name["open"].open_wait_s is not None
    assert sum(profile.server.batch_size_histogram.values()) > 0
    assert profile.server.verified_tokens_per_s > 0
    assert profile.emulator.cpu_s > 0 and profile.emulator.cores > 0
    assert set(by_name["fixed"].locust) >= {"p50_ms", "p99_ms", "rounds"}
    # every recorded round's drafting wait was the sampled time (fake step times: 10-15 ms)
    assert all(0.0 <= r.draft_target_s <= 0.015 * r.calls + 1e-9 for r in profile.round_samples)


def test_traces_that_do_not_hold_are_reported():
    other = hashed_logits(99, V, peak=4.0)  # the traces claim a target this server is not
    inputs = fleet_inputs(group_inputs("g", count=1, k=3,
                                       works=prompts(match_rate=1.0, target_fn=other)))  # fmt: skip
    with FakeServer(FakeRunner(TARGET_FN, V)) as s:
        profile = run(inputs, s, duration_s=2.0, warmup_s=0.5)
    assert profile.rounds_not_as_predicted > 0
    # every session ends on a mismatch, but the one the end of the run cuts short
    statuses = [x.status for x in profile.session_samples]
    assert "mismatch" in statuses and set(statuses) <= {"mismatch", "cut"}
    assert statuses.count("cut") <= 1
    assert any("not verified as the traces predict" in w for w in profile.warnings)


def flipped_at(prefixes: set[tuple[int, ...]]):
    """TARGET_FN with another top token after each of `prefixes`: a near-tie the server's
    batched call breaks otherwise than the single-token trace did."""

    def fn(prefix: tuple[int, ...]):
        logits = TARGET_FN(prefix)
        if tuple(prefix) in prefixes:
            logits = logits.copy()
            logits[(int(logits.argmax()) + 2) % V] = logits.max() + 1.0  # not the device's +1
        return logits

    return fn


def test_a_verdict_that_differs_once_keeps_the_session_on_the_traced_text():
    """The device goes on with the trace's text (the tokens the server did not keep lead the
    next round): the session runs its planned length, the next round is as predicted."""
    works = prompts()
    flips = {tuple(works[0].prompt_ids) + tuple(int(t) for t in works[0].tokens[:5]),
             tuple(works[1].prompt_ids) + tuple(int(t) for t in works[1].tokens[:9])}  # fmt: skip
    inputs = fleet_inputs(group_inputs("g", count=2, k=3, works=works))
    with FakeServer(FakeRunner(flipped_at(flips), V), max_sessions=8, max_batch=4) as s:
        profile = run(inputs, s, duration_s=3.0, warmup_s=0.5)
    assert profile.rounds_not_as_predicted > 0
    assert {x.status for x in profile.session_samples} <= {"done", "cut"}
    assert any(x.status == "done" and x.prompt in ("p0", "p1") for x in profile.session_samples)
    by_session: dict = {}
    for r in profile.round_samples:
        by_session.setdefault((r.device, r.session), []).append(r)
    after = [rounds[i + 1].as_predicted for rounds in by_session.values()
             for i, r in enumerate(rounds[:-1]) if not r.as_predicted]  # fmt: skip
    assert after and all(after)


class SlowTarget(FakeRunner):
    """A target whose every forward call takes 250 ms: sessions wait long for their verdicts."""

    def decode_sequences(self, items):
        time.sleep(0.25)
        return super().decode_sequences(items)


def test_many_devices_waiting_on_a_slow_server_keep_it_busy():
    """grpc under gevent waits on each channel in gevent's thread pool: too small a pool (its
    default is 10) starved 40 devices for seconds at a time and left the server half idle."""
    inputs = fleet_inputs(group_inputs("many", count=40, k=2, step_s=0.02))
    with FakeServer(SlowTarget(TARGET_FN, V), max_sessions=64, max_batch=4, chunk=16) as s:
        profile = run(inputs, s, duration_s=8.0, warmup_s=4.0)
    assert profile.server.utilisation >= 0.8  # the server, not the emulator, is the limit
    assert profile.emulator.drafting_lag_s["p99"] < 0.5
