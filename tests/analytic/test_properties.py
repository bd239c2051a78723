"""Property tests: goodput, cost and energy move the right way when one input changes."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from configspec.analytic.evaluate import DeviceTerms, RoundInputs, evaluate

positive = st.floats(min_value=1e-3, max_value=10.0, allow_nan=False)
factor = st.floats(min_value=1.05, max_value=5.0)


@st.composite
def configurations(draw):
    # 0 or at least 0.01: subnormal draft lengths make "strictly more" vanish in rounding
    drafted = draw(st.one_of(st.just(0.0), st.floats(min_value=0.01, max_value=16.0)))
    tokens = draw(st.floats(min_value=1.0, max_value=drafted + 1.0))
    inputs = RoundInputs(
        drafted=np.array([drafted]), extra_steps=np.array([draw(st.one_of(st.just(0.0), st.floats(0.01, 1.0)))]),
        tokens=np.array([tokens]), step_s=np.array([draw(positive) / 100]),
        draft_w=np.array([draw(positive)]), verify_s=np.array([draw(positive) / 10]),
        verify_j=np.array([draw(positive) * 10]),
    )  # fmt: skip
    terms = DeviceTerms(
        mode=draw(st.sampled_from(["greedy", "sampled"])), rtt_s=draw(positive) / 100,
        up_bit_s=draw(positive) * 1e6, down_bit_s=draw(positive) * 1e6,
        idle_w=draw(positive), overhead_s=draw(st.floats(0.0, 0.01)),
        batch=draw(st.integers(1, 16)), server_usd_per_hour=draw(positive),
        purchase_usd=draw(positive) * 100, lifetime_h=draw(positive) * 1000,
        utilisation=draw(st.floats(0.05, 1.0)), usd_per_kwh=draw(st.floats(0.0, 0.5)),
        token_id_bytes=4, prob_bytes=2, vocab_size=1000, top_n=None, header_bytes=40,
    )  # fmt: skip
    return inputs, terms


def _scaled_inputs(x: RoundInputs, name: str, k: float) -> RoundInputs:
    return dataclasses.replace(x, **{name: getattr(x, name) * k})


def _scaled_terms(t: DeviceTerms, name: str, k: float) -> DeviceTerms:
    return dataclasses.replace(t, **{name: getattr(t, name) * k})


@settings(max_examples=200, deadline=None)
@given(configurations(), factor)
def test_goodput_falls_when_any_time_grows(config, k):
    x, t = config
    base = evaluate(x, t).goodput_tok_s[0]
    assert evaluate(_scaled_inputs(x, "verify_s", k), t).goodput_tok_s[0] < base
    assert evaluate(x, _scaled_terms(t, "rtt_s", k)).goodput_tok_s[0] < base
    assert evaluate(x, _scaled_terms(t, "up_bit_s", 1 / k)).goodput_tok_s[0] < base
    if x.drafted[0] + x.extra_steps[0] > 0:  # no drafting, no drafting time
        assert evaluate(_scaled_inputs(x, "step_s", k), t).goodput_tok_s[0] < base


@settings(max_examples=200, deadline=None)
@given(configurations(), factor)
def test_goodput_rises_with_tokens_per_round(config, k):
    x, t = config
    assert (
        evaluate(_scaled_inputs(x, "tokens", k), t).goodput_tok_s[0]
        > (evaluate(x, t).goodput_tok_s[0])
    )


@settings(max_examples=200, deadline=None)
@given(configurations(), factor)
def test_cost_rises_with_prices_and_falls_with_tokens(config, k):
    x, t = config
    base = evaluate(x, t).usd_per_1m_tokens[0]
    for name in ("server_usd_per_hour", "purchase_usd"):
        assert evaluate(x, _scaled_terms(t, name, k)).usd_per_1m_tokens[0] > base
    assert evaluate(x, _scaled_terms(t, "lifetime_h", k)).usd_per_1m_tokens[0] < base
    assert evaluate(_scaled_inputs(x, "verify_s", k), t).usd_per_1m_tokens[0] > base
    assert evaluate(_scaled_inputs(x, "tokens", k), t).usd_per_1m_tokens[0] < base


@settings(max_examples=200, deadline=None)
@given(configurations(), factor)
def test_energy_rises_with_power_and_waiting(config, k):
    x, t = config
    base = evaluate(x, t).joules_per_token[0]
    assert evaluate(_scaled_inputs(x, "verify_j", k), t).joules_per_token[0] > base
    assert evaluate(_scaled_inputs(x, "tokens", k), t).joules_per_token[0] < base
    assert evaluate(x, _scaled_terms(t, "idle_w", k)).joules_per_token[0] > base
    assert evaluate(x, _scaled_terms(t, "rtt_s", k)).joules_per_token[0] > base
    if x.drafted[0] + x.extra_steps[0] > 0:  # no drafting, no drafting energy
        assert evaluate(_scaled_inputs(x, "draft_w", k), t).joules_per_token[0] > base


@settings(max_examples=100, deadline=None)
@given(configurations(), st.integers(1, 999))
def test_sparsified_payload_is_never_slower(config, top_n):
    x, t = config
    full = evaluate(x, dataclasses.replace(t, mode="sampled"))
    sparse = evaluate(x, dataclasses.replace(t, mode="sampled", top_n=top_n))
    greedy = evaluate(x, dataclasses.replace(t, mode="greedy"))
    assert greedy.round_s[0] <= sparse.round_s[0] <= full.round_s[0]
