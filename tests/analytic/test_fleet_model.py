"""The batching-aware fleet model: mixed-length batch cost, exact MVA with a load-dependent
server, the discrete-event simulation of the engine, capacity and the server-only baseline."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest

from configspec.analytic.batching import BatchCost
from configspec.analytic.fleet_model import (
    GroupLoad,
    ServerTerms,
    capacity,
    predict_mva,
    server_only,
)
from configspec.analytic.fleet_sim import (
    ScriptRound,
    SessionScript,
    SimGroup,
    Simulation,
)
from configspec.analytic.queueing import mva_load_dependent
from configspec.fleet.measure import device_goodputs, in_span
from tests.builders import verification_profile

# t_v = 0.02 + 0.01 x (K + 1) x B: a fixed cost per call (what batching shares) + a cost per token
COST = BatchCost.of(verification_profile(batches=(1, 2, 4, 8)))


def test_ragged_batches_cost_their_tokens_padded_batches_their_longest():
    ragged = COST.call_s([2, 9], 0, 256)  # K = 1 and K = 8 in one call: 11 tokens
    assert ragged == pytest.approx(0.02 + 0.01 * 11)
    padded = BatchCost(COST.curves, "padded").call_s([2, 9], 0, 256)  # both padded to 9
    assert padded == pytest.approx(0.02 + 0.01 * 18)
    assert COST.call_s([3, 3, 3], 0, 256) == pytest.approx(0.02 + 0.01 * 9)  # B = 3: between
    assert COST.call_s([5], 8, 256) == pytest.approx(0.02 + 0.01 * 13)  # a prefill chunk rides
    assert COST.call_s([], 8, 256) == pytest.approx(0.02 + 0.01 * 8)
    assert COST.latency_s(0, 16, 256) == pytest.approx(0.02 + 0.01 * 16)  # past B = 8: linear


def _standard_mva(population, think, demand):
    """Multi-class MVA for a load-independent queue (the textbook recursion) as a reference."""
    q = {(0,) * len(population): 0.0}
    for n in sorted(itertools.product(*[range(m + 1) for m in population]), key=sum):
        if sum(n) == 0:
            continue
        x, r = np.zeros(len(n)), np.zeros(len(n))
        for k in range(len(n)):
            if n[k]:
                r[k] = demand[k] * (1 + q[n[:k] + (n[k] - 1,) + n[k + 1 :]])
                x[k] = n[k] / (think[k] + r[k])
        q[n] = float(x @ r)
    return x, r


def test_mva_reduces_to_the_textbook_recursion_and_to_a_delay_station():
    x, r = _standard_mva((3, 2), (1.0, 2.0), (0.3, 0.5))
    result = mva_load_dependent((3, 2), (1.0, 2.0), (0.3, 0.5), lambda j: 1.0)
    assert result.throughput == pytest.approx(x) and result.response_s == pytest.approx(r)
    infinite = mva_load_dependent((5,), (1.0,), (0.5,), lambda j: float(j))  # never queues
    assert infinite.response_s[0] == pytest.approx(0.5)
    assert infinite.throughput[0] == pytest.approx(5 / 1.5)


def test_mva_saturates_at_the_batched_rate():
    t = {b: 0.02 + 0.05 * b for b in range(1, 5)}  # a call of b rounds
    result = mva_load_dependent((40,), (0.1,), (t[1],), lambda j: min(j, 4) * t[1] / t[min(j, 4)])
    assert result.throughput[0] == pytest.approx(4 / t[4], rel=1e-3)  # 4 rounds per call
    assert result.idle == pytest.approx(0.0, abs=1e-6)


def load(count=1, **kw) -> GroupLoad:
    base = dict(name="g", count=count, tokens_per_round=3.0, round_tokens=5.0, draft_s=0.2,
                net_s=0.02, rounds_per_session=20.0, prefill_tokens=0.0, context_tokens=256.0)  # fmt: skip
    return GroupLoad(**{**base, **kw})


SERVER = ServerTerms(max_batch=8, window_s=0.0, prefill_chunk_tokens=8)


def test_one_device_is_the_single_device_round():
    p = predict_mva([load()], COST, SERVER).groups[0]
    t_v = 0.02 + 0.01 * 5
    assert p.round_s == pytest.approx(0.2 + 0.02 + t_v)
    assert p.goodput_tok_s == pytest.approx(3.0 / (0.2 + 0.02 + t_v))


def test_more_devices_share_the_server():
    goodputs = [predict_mva([load(n)], COST, SERVER) for n in (1, 4, 16, 64)]
    per_device = [p.groups[0].goodput_tok_s for p in goodputs]
    assert per_device == sorted(per_device, reverse=True)
    total = [p.verified_tokens_per_s for p in goodputs]
    assert total == sorted(total)
    ceiling = 8 * 3.0 / (0.02 + 0.01 * 40)  # full batches of 8 rounds
    assert total[-1] == pytest.approx(ceiling, rel=0.02)


def test_batching_does_not_speed_up_prefill():
    """Saturated with full batches of 8, a round costs t(8) / 8 of a call, and its session's
    prefill share costs its tokens in full (a chunk rides along at its own cost)."""
    many = predict_mva([load(64, prefill_tokens=100.0)], COST, SERVER)
    per_round_s = (0.02 + 0.01 * 40) / 8 + 100 * 0.01 / 20
    assert many.verified_tokens_per_s == pytest.approx(3.0 / per_round_s, rel=0.02)


def test_capacity_is_the_last_count_meeting_the_target():
    target = predict_mva([load(6)], COST, SERVER).groups[0].itl_s
    assert capacity(load(), COST, SERVER, target * 1.0001) == 6
    assert capacity(load(), COST, SERVER, 1e-3) == 0


def test_server_only_baseline_is_the_target_alone_with_continuous_batching():
    alone = server_only(load(1), COST, SERVER)
    assert alone.goodput_tok_s == pytest.approx(1 / (0.02 + 0.01))
    many = server_only(load(8), COST, SERVER)
    assert many.tokens_per_s == pytest.approx(8 / (0.02 + 0.01 * 8), rel=1e-3)


def _simulate(count, max_batch=8, window_s=0.0, span=600.0, ramp_s=0.0):
    script = SessionScript("p", 1, tuple(ScriptRound(4, 4, 3, 3 * i) for i in range(20)))
    group = SimGroup("g", count, (script,), lambda calls, ctx, rng: 0.05 * calls, 0.01, 0.01)
    sim = Simulation([group], COST, ServerTerms(max_batch, window_s, 8), seed=1)
    sim.run(span + 20, ramp_s=ramp_s)
    return in_span(sim.rounds, 20.0, span)


def test_simulation_of_one_device_is_exact():
    rounds = _simulate(1)
    t_v = 0.02 + 0.01 * 5
    assert all(r.round_s == pytest.approx(0.2 + 0.02 + t_v) for r in rounds)
    assert all(r.batch_size == 1 and r.queue_s == 0 for r in rounds)


@pytest.mark.parametrize("count", [2, 4, 12])
def test_simulation_and_mva_agree(count):
    rounds = _simulate(count)
    simulated = float(np.mean(device_goodputs(rounds)))
    predicted = predict_mva([load(count, draft_s=0.2, net_s=0.02, prefill_tokens=0.0)], COST,
                            SERVER).groups[0].goodput_tok_s  # fmt: skip
    assert simulated == pytest.approx(predicted, rel=0.10)
    assert max(r.batch_size for r in rounds) <= min(count, 8)


def test_the_window_gathers_rounds_while_others_may_still_send():
    no_window = _simulate(3, window_s=0.0, span=60, ramp_s=0.1)
    assert {r.batch_size for r in no_window} == {1}  # devices out of step: one round per call
    window = _simulate(3, window_s=1.0, span=60, ramp_s=0.1)
    assert {r.batch_size for r in window} == {3}  # it waits until every session has sent
    assert max(r.queue_s for r in window) <= 1.0


# t_v as above + 0.0001 s per cell of context: attention reads every cell of the KV buffer
COST_BY_CONTEXT = BatchCost.of(
    verification_profile(batches=(1, 2, 4, 8), contexts=(100, 4000), per_cell_s=1e-4)
)


def test_a_shared_kv_buffer_prices_each_call_at_every_sessions_cells():
    """configspec serve keeps every session in one KV buffer: a call's attention reads all of
    it, so with 2 + 2 devices at contexts 300 and 500 every call costs t_v at 1600 cells."""
    groups = [load(2, context_tokens=300.0), replace(load(2, context_tokens=500.0), name="h")]
    shared = predict_mva(groups, COST_BY_CONTEXT, SERVER)
    paged = predict_mva(groups, COST_BY_CONTEXT, replace(SERVER, shared_kv=False))
    assert shared.verified_tokens_per_s < paged.verified_tokens_per_s
    one_call_s = 0.02 + 0.01 * 5 + 1e-4 * 1600
    lone = predict_mva([load(1, context_tokens=1600.0, draft_s=1e3)], COST_BY_CONTEXT, SERVER)
    assert lone.groups[0].server_s == pytest.approx(one_call_s)
    saturated = predict_mva([load(64, context_tokens=25.0, draft_s=0.0, net_s=0.0)],
                            COST_BY_CONTEXT, SERVER)  # fmt: skip
    full_call_s = 0.02 + 0.01 * 40 + 1e-4 * 64 * 25  # batches of 8, 64 sessions' cells
    assert saturated.verified_tokens_per_s == pytest.approx(8 * 3.0 / full_call_s, rel=0.01)
    # one device alone holds only its own cells: shared or not, the same
    alone = [load(1, context_tokens=300.0)]
    assert predict_mva(alone, COST_BY_CONTEXT, SERVER).groups[0].server_s == pytest.approx(
        predict_mva(alone, COST_BY_CONTEXT, replace(SERVER, shared_kv=False)).groups[0].server_s
    )


def test_the_simulation_prices_calls_at_the_cells_of_every_open_session():
    script = SessionScript("p", 201, tuple(ScriptRound(4, 4, 3, 3 * i) for i in range(20)))
    group = SimGroup("g", 4, (script,), lambda calls, ctx, rng: 0.05 * calls, 0.01, 0.01)
    runs = {}
    for shared in (True, False):
        server = ServerTerms(8, 0.0, 512, shared_kv=shared)
        sim = Simulation([group], COST_BY_CONTEXT, server, seed=1).run(120.0)
        # calls without a prefill chunk riding along
        runs[shared] = [r for r in in_span(sim.rounds, 20.0, 100.0)
                        if r.batch_tokens == 5 * r.batch_size]  # fmt: skip
    assert len(runs[True]) > 50 and len(runs[False]) > 50
    # each call's context: its own rounds' (paged) or all 4 sessions' (shared), 200 + 3i each
    paged_extra = [r.verify_s - COST.call_s([5] * r.batch_size, 0, 256) for r in runs[False]]
    shared_extra = [r.verify_s - COST.call_s([5] * r.batch_size, 0, 256) for r in runs[True]]
    assert max(paged_extra) < 1e-4 * 260 + 1e-9
    assert min(shared_extra) > 1e-4 * 4 * 200 - 1e-9
