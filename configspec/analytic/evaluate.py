"""Evaluate many configurations at once: arrays in, metric arrays out (no loops, no I/O).

`RoundInputs` holds one row per configuration (what differs between configurations: the policy's
counts, the draft cell's speed and power, the verification cost at that draft length, and where
the work runs); `DeviceTerms` holds what is shared on one device (network, prices, idle power,
batch). A row without speculation is one like any other (analytic/baselines.py): the target
alone on the server uses neither the network nor the device, a model alone on the device no
server.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from configspec.analytic import formulas as f
from device_profilers.base import is_measured


@dataclass
class RoundInputs:
    drafted: np.ndarray  # D, mean draft tokens per round
    extra_steps: np.ndarray  # expected draft steps beyond D per round
    tokens: np.ndarray  # E[N] = accepted + 1, verified tokens per round
    step_s: np.ndarray  # draft decode step time
    draft_w: np.ndarray  # edge power while drafting
    verify_s: np.ndarray  # t_v(D, B): one target call over D + 1 tokens x B sequences
    verify_j: np.ndarray  # energy of that call, all B sequences
    # the draft re-reading the verified tokens in one call per round (llama.cpp's draft-simple);
    # 0 where the drafter keeps its own cache (configspec's decoder)
    ingest_s: np.ndarray | None = None
    network: np.ndarray | None = None  # 1: a round crosses the network; 0: one machine
    edge: np.ndarray | None = None  # 1: the edge device takes part (its cost and energy count)
    # proactive drafting: the most tokens pre-drafted per round (0: synchronous, K: proactive)
    # and P(every draft accepted AND the bonus guessed), the walk's reuse rate
    predraft_max: np.ndarray | None = None
    reuse: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(np.asarray(self.drafted))
        if self.ingest_s is None:
            self.ingest_s = np.zeros(n)
        if self.network is None:
            self.network = np.ones(n)
        if self.edge is None:
            self.edge = np.ones(n)
        for name in ("predraft_max", "reuse"):  # synchronous unless given
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(n))

    @classmethod
    def of_rows(cls, rows: list[dict[str, float]]) -> RoundInputs:
        """One row per dict (keys: the fields), as float arrays."""
        return cls(**{name: np.array([r[name] for r in rows], float) for name in rows[0]})

    def take(self, index) -> RoundInputs:
        return RoundInputs(**{k: np.asarray(v)[index] for k, v in vars(self).items()})

    def __len__(self) -> int:
        return len(self.drafted)


@dataclass(frozen=True)
class DeviceTerms:
    mode: str  # greedy | sampled
    rtt_s: float
    up_bit_s: float
    down_bit_s: float
    idle_w: float
    overhead_s: float
    batch: int
    server_usd_per_hour: float
    purchase_usd: float
    lifetime_h: float
    utilisation: float
    usd_per_kwh: float
    token_id_bytes: int
    prob_bytes: int
    vocab_size: int
    top_n: int | None
    header_bytes: int
    verdict_bytes: int = 34
    flow_window_bytes: int = 65535


@dataclass
class Metrics:
    draft_s: np.ndarray
    net_s: np.ndarray
    verify_s: np.ndarray
    round_s: np.ndarray
    bytes_up: np.ndarray
    goodput_tok_s: np.ndarray
    server_usd_per_1m: np.ndarray
    edge_usd_per_1m: np.ndarray
    usd_per_1m_tokens: np.ndarray
    joules_per_token: np.ndarray
    server_busy_s: np.ndarray
    devices_supported: np.ndarray
    predraft_s: np.ndarray  # drafting while in flight (proactive), overlapped with net + verify
    late_s: np.ndarray  # the verdict's wait for the pre-draft step in progress
    wasted_draft_j_per_token: np.ndarray  # the discarded pre-drafts' share of joules_per_token

    def objectives(self) -> np.ndarray:
        """(n, 3) minimisation matrix: -goodput, $ per 1M tokens, J per token."""
        return np.column_stack([-self.goodput_tok_s, self.usd_per_1m_tokens, self.joules_per_token])

    def row(self, i: int) -> dict[str, float]:
        return {k: float(np.asarray(v)[i]) for k, v in vars(self).items()}


def evaluate(x: RoundInputs, t: DeviceTerms) -> Metrics:
    bytes_up = x.network * f.upload_bytes(
        x.drafted, t.mode, t.token_id_bytes, t.prob_bytes, t.vocab_size, t.top_n, t.header_bytes
    )
    bytes_down = x.network * f.download_bytes(
        t.header_bytes, t.verdict_bytes, bytes_up, t.flow_window_bytes
    )
    net_s = x.network * f.network_time_s(t.rtt_s, bytes_up, bytes_down, t.up_bit_s, t.down_bit_s)
    verify_s = np.asarray(x.verify_s, float)
    # proactive drafting (all zero when synchronous): pre-drafts while in flight, some carried
    # into the next draft; the round's last draft is fed in flight, so no two-token call
    flight_s = net_s + verify_s
    predrafted = f.predrafted_tokens(flight_s, x.step_s, x.predraft_max)
    late_s = f.predraft_late_s(flight_s, x.step_s, x.predraft_max)
    proactive = np.asarray(x.predraft_max) > 0
    fresh = np.asarray(x.drafted, float) - f.carried_drafts(x.reuse, predrafted)
    draft_s = f.drafting_time_s(
        fresh, np.where(proactive, 0.0, x.extra_steps), x.step_s, x.ingest_s
    )
    predraft_s = predrafted * np.asarray(x.step_s, float)
    busy_s = draft_s + predraft_s
    round_s = f.round_time_s(draft_s, net_s, verify_s, t.overhead_s, late_s)
    goodput = f.goodput_tok_s(x.tokens, round_s)
    server_usd = f.server_usd_per_token(t.server_usd_per_hour, verify_s, t.batch, x.tokens)
    average_w = f.edge_average_power_w(x.draft_w, t.idle_w, busy_s, round_s)
    hourly = f.edge_usd_per_hour(
        t.purchase_usd, t.lifetime_h, t.utilisation, average_w, t.usd_per_kwh
    )
    edge_usd = x.edge * f.edge_usd_per_token(hourly, goodput)
    joules = f.joules_per_token(
        x.edge * x.draft_w, busy_s, x.edge * t.idle_w, round_s - busy_s, x.verify_j, t.batch,
        x.tokens,
    )  # fmt: skip
    wasted_s = f.wasted_draft_tokens(x.reuse, predrafted) * np.asarray(x.step_s, float)
    return Metrics(
        draft_s=draft_s, net_s=net_s, verify_s=verify_s, round_s=round_s, bytes_up=bytes_up,
        goodput_tok_s=goodput, server_usd_per_1m=1e6 * server_usd, edge_usd_per_1m=1e6 * edge_usd,
        usd_per_1m_tokens=1e6 * (server_usd + edge_usd), joules_per_token=joules,
        server_busy_s=f.server_busy_s_per_round(verify_s, t.batch),
        devices_supported=f.devices_supported(round_s, verify_s, t.batch),
        predraft_s=predraft_s, late_s=late_s,
        wasted_draft_j_per_token=np.asarray(x.draft_w, float) * wasted_s / np.asarray(x.tokens),
    )  # fmt: skip


def energy_label(**parts: str) -> str:
    """`measured:` only when every part (draft=..., idle=..., server=..., device=...) was measured
    (device_profilers.is_measured); otherwise `estimated:`, naming each part's source so the
    reader sees which are estimates."""
    kind = "measured" if all(is_measured(s) for s in parts.values()) else "estimated"
    return f"{kind}: " + ", ".join(f"{k} {v}" for k, v in parts.items())
