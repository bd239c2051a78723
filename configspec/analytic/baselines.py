"""Autoregressive baselines in the same units, so every recommendation states speedup and savings.

Target alone on the server: one target call per token, `goodput = 1 / t_v(K=0, B)` (MODEL.md,
autoregressive baseline), server share of price and energy as for speculation. A model alone on
the edge device (the draft; the target too when the drafting profile measured it there): one
decode step per token at its profiled step time and power, SLED edge cost.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from configspec.analytic import formulas as f
from configspec.analytic.evaluate import DeviceTerms
from configspec.analytic.inputs import VerifyCurve


@dataclass(frozen=True)
class Baseline:
    name: str
    goodput_tok_s: float
    usd_per_1m_tokens: float
    joules_per_token: float
    energy_source: str

    def as_dict(self) -> dict:
        return asdict(self)


def target_on_server(
    curve: VerifyCurve, terms: DeviceTerms, context_tokens: int, server_power_source: str,
    verify_j_at_0: float,
) -> Baseline:  # fmt: skip
    step_s = float(curve.latency(0, context_tokens))
    usd = f.server_usd_per_token(terms.server_usd_per_hour, step_s, terms.batch, 1.0)
    return Baseline(
        name="target alone on the server (autoregressive)",
        goodput_tok_s=float(f.goodput_tok_s(1.0, step_s)),
        usd_per_1m_tokens=float(1e6 * usd),
        joules_per_token=float(verify_j_at_0 / terms.batch),
        energy_source=server_power_source,
    )


def model_on_device(name: str, step_s: float, power_w: float, power_source: str,
                    terms: DeviceTerms) -> Baseline:  # fmt: skip
    goodput = float(f.goodput_tok_s(1.0, step_s))
    hourly = f.edge_usd_per_hour(
        terms.purchase_usd, terms.lifetime_h, terms.utilisation, power_w, terms.usd_per_kwh
    )
    return Baseline(
        name=name,
        goodput_tok_s=goodput,
        usd_per_1m_tokens=float(1e6 * f.edge_usd_per_token(hourly, goodput)),
        joules_per_token=float(power_w * step_s),
        energy_source=power_source,
    )
