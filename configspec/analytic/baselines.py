"""Decoding without speculation, as rows of the same model, so the search weighs it like any
configuration and every recommendation states its speedup and savings against it.

Target alone on the server: one target call per token, `goodput = 1 / t_v(K=0, B)`, the
server's share of price and energy as for speculation, no network round per token and no edge
device (docs/model.md, baselines). A model alone on the edge device (the target where the
drafting profile measured it there; the draft, as a reference): one decode step per token at its
profiled step time and power, SLED edge cost, no server.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Baseline:
    """A decoding without speculation, evaluated (the figures of its model row)."""

    name: str
    goodput_tok_s: float
    usd_per_1m_tokens: float
    joules_per_token: float
    energy_source: str

    def as_dict(self) -> dict:
        return asdict(self)


def target_on_server_row(verify_s: float, verify_j: float) -> dict[str, float]:
    """RoundInputs fields of the target decoding alone: a round is one call over one token."""
    return dict(drafted=0.0, extra_steps=0.0, tokens=1.0, step_s=0.0, draft_w=0.0,
                verify_s=verify_s, verify_j=verify_j, ingest_s=0.0, network=0.0, edge=0.0)  # fmt: skip


def model_on_device_row(step_s: float, power_w: float) -> dict[str, float]:
    """RoundInputs fields of a model decoding alone on the device: one decode step per token."""
    return dict(drafted=0.0, extra_steps=1.0, tokens=1.0, step_s=step_s, draft_w=power_w,
                verify_s=0.0, verify_j=0.0, ingest_s=0.0, network=0.0, edge=1.0)  # fmt: skip
