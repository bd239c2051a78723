"""One function per formula of the analytic model; each cites its source in one line.

All functions are pure and accept floats or numpy arrays (broadcasting), so the search can
evaluate a whole configuration table in one call. Units are in the names; SI throughout
(seconds, bytes, bits per second, watts, joules, US dollars).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

Num = ArrayLike


def iid_tokens_per_round(acceptance: Num, k: Num) -> np.ndarray:
    """E[N](K) = (1 - a^(K+1)) / (1 - a); K + 1 when a = 1 (Leviathan, Kalman, Matias 2023, eq. 1)."""
    a = np.asarray(acceptance, dtype=float)
    if np.any((a < 0.0) | (a > 1.0)):
        raise ValueError(f"acceptance rate must lie in [0, 1], got {acceptance}")
    k = np.asarray(k, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        closed = (1.0 - a ** (k + 1.0)) / (1.0 - a)
    return np.where(a >= 1.0, k + 1.0, closed)


def full_acceptance_probability(acceptance_by_position: Num, k: int) -> float:
    """P(all K drafts accepted) = prod_{k=1..K} P(k-th accepted | first k-1 were) (chain rule).
    Positions beyond the measured list reuse the last measured conditional probability."""
    conditional = np.asarray(acceptance_by_position, dtype=float)
    if len(conditional) == 0:
        return 0.0
    measured = conditional[:k]
    missing = max(0, k - len(measured))
    return float(np.prod(measured) * conditional[-1] ** missing)


def drafting_time_s(drafted: Num, extra_steps: Num, step_s: Num, ingest_s: Num = 0.0) -> np.ndarray:
    """T_draft = (D + extra) * t_d + t_ingest: D draft steps plus the expected extra step — for
    fixed K the draft must ingest its last draft and the bonus token when all K were accepted
    (extra = P(all accepted)); a confidence-threshold round also pays the step whose token fell
    below tau — and, for llama.cpp's draft-simple, one call re-reading the verified tokens
    (docs/model.md, round accounting; llama.cpp common/speculative.cpp draft() and process())."""
    steps = (np.asarray(drafted, float) + np.asarray(extra_steps, float)) * np.asarray(step_s)
    return steps + np.asarray(ingest_s, float)


def upload_bytes(
    drafted: Num, mode: str, token_id_bytes: int, prob_bytes: int, vocab_size: int,
    top_n: int | None, header_bytes: int,
) -> np.ndarray:  # fmt: skip
    """Bytes edge -> server per round: the framing (header_bytes), the committed token (the last
    round's correction/bonus, which the target has not seen) and D draft ids. Lossless sampling
    also needs q(x) for rejection sampling (Leviathan 2023 alg. 1): a vocab-sized probability
    vector per draft token, or top-n (id, prob) pairs when sparsified, whichever is smaller
    (SpecEdge-style payload accounting). For configspec's gRPC protocol header_bytes is derived
    in docs/model.md ("Bytes on the wire")."""
    d = np.asarray(drafted, dtype=float)
    per_token = float(token_id_bytes)
    if mode == "sampled":
        dense = vocab_size * prob_bytes
        # sparse pairs carry their ids, so past n ~ vocab * p / (id + p) the dense vector is smaller
        per_token += dense if top_n is None else min(dense, top_n * (token_id_bytes + prob_bytes))
    return header_bytes + token_id_bytes + d * per_token


WINDOW_UPDATE_PAIR_BYTES = 26  # HTTP/2 WINDOW_UPDATE for the connection and the stream, 9 + 4 each


def download_bytes(header_bytes: int, verdict_bytes: int, bytes_up: Num = 0.0,
                   flow_window_bytes: int = 0) -> np.ndarray:  # fmt: skip
    """Bytes server -> edge per round: the framing and the verdict (accepted count, the
    correction/bonus token, the server's timings). An upload larger than the server's HTTP/2
    flow-control window (`flow_window_bytes`; 0: no flow control) gets one more pair of
    WINDOW_UPDATE frames back: gRPC opens the stream's window for the rest of a message once it
    has read its length, up to 1 MiB ahead (chttp2 flow control, `kMaxWindowDelta`), and the
    connection's with it. Uploads more than 1 MiB past the window get further pairs as the
    server reads, how many depends on its reads: not modelled (docs/model.md)."""
    up = np.asarray(bytes_up, dtype=float)
    large = (flow_window_bytes > 0) & (up > flow_window_bytes)
    return header_bytes + verdict_bytes + np.where(large, WINDOW_UPDATE_PAIR_BYTES, 0.0)


def network_time_s(
    rtt_s: Num, bytes_up: Num, bytes_down: Num, up_bit_s: Num, down_bit_s: Num
) -> np.ndarray:
    """T_net = RTT + 8 * bytes_up / bw_up + 8 * bytes_down / bw_down (serialisation delay)."""
    return (
        np.asarray(rtt_s, float)
        + 8.0 * np.asarray(bytes_up, float) / np.asarray(up_bit_s, float)
        + 8.0 * np.asarray(bytes_down, float) / np.asarray(down_bit_s, float)
    )


def round_time_s(
    draft_s: Num, net_s: Num, verify_s: Num, overhead_s: Num = 0.0, late_s: Num = 0.0
) -> np.ndarray:
    """T = T_draft + T_net + T_verify + overhead (SLED/SpecEdge, synchronous); with proactive
    drafting T_draft counts the steps before the submit only (the rest run in flight) and the
    verdict's wait for the step in progress is added: the max(T_predraft, T_net + T_verify)
    of an overlapped round (docs/model.md)."""
    return (
        np.asarray(draft_s, float)
        + np.asarray(net_s, float)
        + np.asarray(verify_s, float)
        + np.asarray(overhead_s, float)
        + np.asarray(late_s, float)
    )


def predrafted_tokens(flight_s: Num, step_s: Num, predraft_max: Num) -> np.ndarray:
    """E[j], tokens pre-drafted while a round is in flight (SpecEdge proactive drafting): steps
    run back to back while no verdict is there, so j = min(J, ceil(F / t_d)); over a uniform
    phase of the verdict within a step, E[j] = min(J, F / t_d + 1/2), at least 1 (docs/model.md)."""
    f, t, cap = (np.asarray(v, float) for v in (flight_s, step_s, predraft_max))
    t = np.where(cap > 0, t, 1.0)  # rows without pre-drafting (t may be 0 there) give 0 below
    return np.where(cap > 0, np.clip(f / t + 0.5, 1.0, np.maximum(cap, 1.0)), 0.0)


def predraft_late_s(flight_s: Num, step_s: Num, predraft_max: Num) -> np.ndarray:
    """E[late], the verdict's wait for the pre-draft step in progress; c = J t_d - F: t_d / 2 over
    a uniform phase (c >= t_d / 2), (c + t_d / 2)^2 / (2 t_d) where the J-th step may end first,
    0 when it always does; at least t_d - F, the first step's rest (docs/model.md)."""
    f, t, cap = (np.asarray(v, float) for v in (flight_s, step_s, predraft_max))
    t = np.where(cap > 0, t, 1.0)  # rows without pre-drafting (t may be 0 there) give 0 below
    c = cap * t - f
    phase = np.where(c >= t / 2, t / 2, np.where(c <= -t / 2, 0.0, (c + t / 2) ** 2 / (2 * t)))
    return np.where(cap > 0, np.maximum(phase, t - f), 0.0)


def carried_drafts(reuse: Num, predrafted: Num) -> np.ndarray:
    """Drafts a round starts with = P(reuse) * (E[j] - 1): on a hit the first pre-draft is the
    bonus token itself, the rest start the next round's draft (SpecEdge proactive drafting)."""
    return np.asarray(reuse, float) * np.maximum(np.asarray(predrafted, float) - 1.0, 0.0)


def wasted_draft_tokens(reuse: Num, predrafted: Num) -> np.ndarray:
    """Pre-drafted tokens discarded per round = (1 - P(reuse)) * E[j]: a miss drops them all."""
    return (1.0 - np.asarray(reuse, float)) * np.asarray(predrafted, float)


def goodput_tok_s(tokens_per_round: Num, round_s: Num) -> np.ndarray:
    """Goodput = E[N] / E[T_round], verified tokens per second (renewal-reward ratio of means)."""
    return np.asarray(tokens_per_round, float) / np.asarray(round_s, float)


def server_usd_per_token(
    price_per_hour_usd: Num, verify_s: Num, batch: Num, tokens_per_round: Num
) -> np.ndarray:
    """Server share = price/s * T_verify(D, B) / B / E[N] (SpecEdge: rental price per busy second)."""
    return (
        np.asarray(price_per_hour_usd, float)
        / 3600.0
        * np.asarray(verify_s, float)
        / np.asarray(batch, float)
        / np.asarray(tokens_per_round, float)
    )


def edge_average_power_w(draft_w: Num, idle_w: Num, draft_s: Num, round_s: Num) -> np.ndarray:
    """Time-weighted edge power over a round: drafting at P_draft, waiting at P_idle."""
    d = np.asarray(draft_s, float)
    r = np.asarray(round_s, float)
    return (np.asarray(draft_w, float) * d + np.asarray(idle_w, float) * (r - d)) / r


def edge_usd_per_hour(
    purchase_usd: Num, lifetime_h: Num, utilisation: Num, average_w: Num, usd_per_kwh: Num
) -> np.ndarray:
    """SLED: CAPEX / (lifetime_h * utilisation) + P_avg_kW * electricity price (OPEX), per hour."""
    capex = np.asarray(purchase_usd, float) / (
        np.asarray(lifetime_h, float) * np.asarray(utilisation, float)
    )
    return capex + np.asarray(average_w, float) / 1000.0 * np.asarray(usd_per_kwh, float)


def edge_usd_per_token(usd_per_hour: Num, goodput: Num) -> np.ndarray:
    """SLED: hourly cost / tokens per hour = hourly / (3600 * goodput)."""
    return np.asarray(usd_per_hour, float) / (3600.0 * np.asarray(goodput, float))


def joules_per_token(
    draft_w: Num, draft_s: Num, idle_w: Num, wait_s: Num, verify_j: Num, batch: Num,
    tokens_per_round: Num,
) -> np.ndarray:  # fmt: skip
    """E/token = (P_draft * T_draft + P_idle * T_wait + E_verify(D, B) / B) / E[N] (SLED energy
    accounting; the server's call energy is shared by the B sequences it verifies)."""
    edge_j = np.asarray(draft_w, float) * np.asarray(draft_s, float) + np.asarray(
        idle_w, float
    ) * np.asarray(wait_s, float)
    server_j = np.asarray(verify_j, float) / np.asarray(batch, float)
    return (edge_j + server_j) / np.asarray(tokens_per_round, float)


def server_busy_s_per_round(verify_s: Num, batch: Num) -> np.ndarray:
    """Server time one device's round occupies: T_verify(D, B) / B (SLED/SpecEdge sharing)."""
    return np.asarray(verify_s, float) / np.asarray(batch, float)


def devices_supported(round_s: Num, verify_s: Num, batch: Num) -> np.ndarray:
    """Most devices with utilisation sum_i busy/T_round < 1: floor(T_round * B / T_verify)
    (infinite when the server is not used)."""
    with np.errstate(divide="ignore"):
        return np.floor(
            np.asarray(round_s, float) * np.asarray(batch, float) / np.asarray(verify_s, float)
        )
