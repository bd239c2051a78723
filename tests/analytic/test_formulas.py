"""Golden tests: each formula against values computed by hand (the arithmetic is in comments)."""

from __future__ import annotations

import numpy as np
import pytest

from configspec.analytic import formulas as f
from configspec.analytic.evaluate import DeviceTerms, RoundInputs, energy_label, evaluate


def test_iid_tokens_per_round_closed_form():
    # a = 0.8, K = 2: (1 - 0.8^3) / (1 - 0.8) = (1 - 0.512) / 0.2 = 2.44
    assert f.iid_tokens_per_round(0.8, 2) == pytest.approx(2.44)
    # a = 0.5, K = 1: (1 - 0.25) / 0.5 = 1.5
    assert f.iid_tokens_per_round(0.5, 1) == pytest.approx(1.5)
    # a = 1: every draft accepted, K + 1 tokens
    assert f.iid_tokens_per_round(1.0, 3) == pytest.approx(4.0)
    assert f.iid_tokens_per_round(0.0, 5) == 1.0  # nothing accepted: the target's token only
    with pytest.raises(ValueError):
        f.iid_tokens_per_round(1.2, 3)


def test_full_acceptance_probability_chain_rule():
    by_position = [0.9, 0.8, 0.5]
    # K = 2: 0.9 * 0.8 = 0.72
    assert f.full_acceptance_probability(by_position, 2) == pytest.approx(0.72)
    # K = 5: positions 4 and 5 reuse the last measured 0.5: 0.9 * 0.8 * 0.5 * 0.5 * 0.5 = 0.09
    assert f.full_acceptance_probability(by_position, 5) == pytest.approx(0.09)


def test_drafting_time():
    # (D + extra) * t_d = (4 + 0.5) * 0.02 = 0.09 s
    assert f.drafting_time_s(4, 0.5, 0.02) == pytest.approx(0.09)


def test_payload_bytes_greedy_sampled_and_sparsified():
    # greedy: header 40 + the committed 4-byte id + D 2 x 4-byte ids = 52
    assert f.upload_bytes(2, "greedy", 4, 2, 1000, None, 40) == pytest.approx(52)
    # sampled, full vocab: 40 + 4 + 2 x (4 + 1000 x 2) = 44 + 2 x 2004 = 4052
    assert f.upload_bytes(2, "sampled", 4, 2, 1000, None, 40) == pytest.approx(4052)
    # sampled, top-10: 40 + 4 + 2 x (4 + 10 x (4 + 2)) = 44 + 2 x 64 = 172
    assert f.upload_bytes(2, "sampled", 4, 2, 1000, 10, 40) == pytest.approx(172)
    # down: header 40 + the verdict's 34 bytes = 74
    assert f.download_bytes(40, 34) == pytest.approx(74)


def test_download_bytes_gain_a_window_update_pair_past_the_flow_control_window():
    # uploads of 100 B, exactly the window, one byte more and 300 kB, window 65535: the two
    # larger ones get one more WINDOW_UPDATE pair (connection + stream, 13 bytes each) back
    up = [100, 65535, 65536, 300_000]
    assert f.download_bytes(48, 34, up, 65535).tolist() == [82, 82, 108, 108]
    assert f.download_bytes(48, 34, up, 0).tolist() == [82] * 4  # no flow control


def test_network_time():
    # 0.02 + 8 x 56 / 1e6 + 8 x 48 / 1e6 = 0.02 + 0.000448 + 0.000384 = 0.020832 s
    assert f.network_time_s(0.02, 56, 48, 1e6, 1e6) == pytest.approx(0.020832)


def test_round_time_and_goodput():
    # 0.09 + 0.020832 + 0.07 + 0.01 = 0.190832 s; 3 tokens / 0.190832 s = 15.7206 tok/s
    r = f.round_time_s(0.09, 0.020832, 0.07, 0.01)
    assert r == pytest.approx(0.190832)
    assert f.goodput_tok_s(3, r) == pytest.approx(3 / 0.190832)


def test_server_cost_share():
    # $3.6/h = $0.001/s; 0.001 x 0.08 s / batch 4 / 2 tokens = 1e-5 $/token
    assert f.server_usd_per_token(3.6, 0.08, 4, 2) == pytest.approx(1e-5)


def test_edge_cost_capex_and_opex():
    # CAPEX 600 / (1000 h x 0.5) = 1.2 $/h; OPEX 0.5 kW x 0.2 $/kWh = 0.1 $/h; sum 1.3 $/h
    assert f.edge_usd_per_hour(600, 1000, 0.5, 500, 0.2) == pytest.approx(1.3)
    # 3.6 $/h at 10 tok/s: 3.6 / (3600 x 10) = 1e-4 $/token
    assert f.edge_usd_per_token(3.6, 10) == pytest.approx(1e-4)
    # average power: (10 W x 0.1 s + 2 W x 0.3 s) / 0.4 s = 1.6 / 0.4 = 4 W
    assert f.edge_average_power_w(10, 2, 0.1, 0.4) == pytest.approx(4.0)


def test_energy_per_token():
    # (10 W x 0.09 s + 2 W x 0.090832 s + 7 J / 1) / 3 = (0.9 + 0.181664 + 7) / 3 = 2.693888 J
    assert f.joules_per_token(10, 0.09, 2, 0.090832, 7, 1, 3) == pytest.approx(2.693888)
    # the server call energy is shared by the batch: (0 + 0 + 8 J / 4) / 1 = 2 J
    assert f.joules_per_token(0, 0, 0, 0, 8, 4, 1) == pytest.approx(2.0)


def test_server_capacity():
    # busy 0.08 / 4 = 0.02 s per round; floor(0.19 x 4 / 0.08) = floor(9.5) = 9 devices
    assert f.server_busy_s_per_round(0.08, 4) == pytest.approx(0.02)
    assert f.devices_supported(0.19, 0.08, 4) == 9


def _terms(**overrides) -> DeviceTerms:
    base = dict(
        mode="greedy", rtt_s=0.02, up_bit_s=1e6, down_bit_s=1e6, idle_w=2.0, overhead_s=0.0,
        batch=1, server_usd_per_hour=3.6, purchase_usd=36.0, lifetime_h=10.0, utilisation=1.0,
        usd_per_kwh=0.0, token_id_bytes=4, prob_bytes=2, vocab_size=1000, top_n=None,
        header_bytes=40,
    )  # fmt: skip
    base.update(overrides)
    return DeviceTerms(**base)


def _one(**overrides) -> RoundInputs:
    base = dict(drafted=4.0, extra_steps=0.5, tokens=3.0, step_s=0.02, draft_w=10.0,
                verify_s=0.07, verify_j=7.0)  # fmt: skip
    base.update(overrides)
    return RoundInputs(**{k: np.array([v]) for k, v in base.items()})


def test_evaluate_one_configuration_by_hand():
    m = evaluate(_one(), _terms())
    # draft (4 + 0.5) x 0.02 = 0.09; up 40 + 4 + 4 x 4 = 60 B; down 40 + 34 = 74 B
    # net 0.02 + 0.00048 + 0.000592 = 0.021072; round 0.09 + 0.021072 + 0.07 = 0.181072 s
    assert m.round_s[0] == pytest.approx(0.181072)
    assert m.goodput_tok_s[0] == pytest.approx(3 / 0.181072)  # 16.5680 tok/s
    # server: 0.001 $/s x 0.07 / 1 / 3 = 2.3333e-5 $/token = 23.333 $/1M
    assert m.server_usd_per_1m[0] == pytest.approx(23.3333, rel=1e-5)
    # edge: CAPEX 36 / (10 x 1) = 3.6 $/h = 0.001 $/s, no OPEX (0 $/kWh);
    # per token 0.001 x 0.181072 / 3 = 6.03573e-5 $ = 60.3573 $/1M
    assert m.edge_usd_per_1m[0] == pytest.approx(60.3573, rel=1e-5)
    assert m.usd_per_1m_tokens[0] == pytest.approx(23.3333 + 60.3573, rel=1e-5)
    # energy: (10 x 0.09 + 2 x (0.181072 - 0.09) + 7) / 3 = 2.694048 J
    assert m.joules_per_token[0] == pytest.approx(2.694048)
    # capacity: floor(0.181072 x 1 / 0.07) = floor(2.587) = 2 devices
    assert m.devices_supported[0] == 2


def test_evaluate_sampled_payload_slows_a_slow_link():
    # sampled: up 40 + 4 + 4 x (4 + 1000 x 2) = 8060 B, greedy 60 B; at 1 Mbit/s the difference
    # takes 8 x 8000 / 1e6 = 64 ms
    greedy = evaluate(_one(), _terms())
    sampled = evaluate(_one(), _terms(mode="sampled"))
    extra_s = 8 * (8060 - 60) / 1e6
    assert sampled.round_s[0] - greedy.round_s[0] == pytest.approx(extra_s)


def test_energy_label_says_estimated_unless_all_measured():
    assert energy_label(
        draft="measured:rapl", idle="measured:rapl", server="measured:nvml"
    ).startswith("measured")
    label = energy_label(draft="measured:rapl", idle="estimated:tdp", server="measured:nvml")
    assert label.startswith("estimated") and "idle estimated:tdp" in label


def test_one_measured_rule_for_sources_and_combined_labels():
    from configspec.report.data import power_kind
    from device_profilers.base import is_measured

    measured = energy_label(draft="measured:rapl", idle="measured:rapl", server="measured:nvml")
    assert is_measured(measured) and power_kind(measured) == "measured"
    mixed = energy_label(draft="measured:rapl", idle="estimated:tdp", server="measured:nvml")
    assert not is_measured(mixed) and power_kind(mixed) == "estimated"
    assert not is_measured("measured") and not is_measured(None)  # the prefix is "measured:"


def test_sparse_payload_never_exceeds_the_dense_vector():
    # top-400 pairs: 400 x 6 = 2400 B > dense 1000 x 2 = 2000 B, so the dense vector is sent:
    # 40 + 4 + 1 x (4 + 2000) = 2048
    assert f.upload_bytes(1, "sampled", 4, 2, 1000, 400, 40) == pytest.approx(2048)
