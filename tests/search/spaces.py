"""Random spaces for search tests, built directly (no profiles): arrays of round numbers."""

from __future__ import annotations

import math

import numpy as np

from configspec.analytic.evaluate import DeviceTerms, RoundInputs
from configspec.search.space import Space


def terms(**overrides) -> DeviceTerms:
    base = dict(
        mode="greedy", rtt_s=0.02, up_bit_s=20e6, down_bit_s=100e6, idle_w=2.0, overhead_s=0.0,
        batch=1, server_usd_per_hour=1.0, purchase_usd=600.0, lifetime_h=26280.0,
        utilisation=0.25, usd_per_kwh=0.165, token_id_bytes=4, prob_bytes=2, vocab_size=1000,
        top_n=None, header_bytes=40,
    )  # fmt: skip
    base.update(overrides)
    return DeviceTerms(**base)


def random_space(seed: int, drafts: int = 2, quants: int = 2, ks: int = 4, taus: int = 2,
                 device: str = "edge", proactive: bool = False) -> Space:  # fmt: skip
    """A synthetic space; `proactive` adds each fixed-K row once more, drafting proactively
    (reuse = a^(K + 1) for the i.i.d. match rate a)."""
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(drafts):
        a = rng.uniform(0.4, 0.95)
        for q in range(quants):
            step = rng.uniform(0.005, 0.05)
            power = rng.uniform(3, 30)
            for k in range(1, ks + 1):
                for tau in [math.nan, *np.linspace(0.2, 0.8, taus)]:
                    if not math.isnan(tau) and k != ks:
                        continue  # thresholds at K_max only, like the alignment profile
                    drafted = k if math.isnan(tau) else k * (1 - tau * rng.uniform(0.3, 0.9))
                    tokens = (1 - a ** (drafted + 1)) / (1 - a)
                    overlaps = ["none", "proactive"] if proactive and math.isnan(tau) else ["none"]
                    for o in overlaps:
                        rows.append((f"d{d}", f"q{q}", k, tau, drafted, tokens, step, power, o,
                                     a ** (k + 1) if o == "proactive" else 0.0))  # fmt: skip
    n = len(rows)
    col = list(zip(*rows, strict=True))
    drafted = np.array(col[4], float)
    verify_s = 0.03 + 0.01 * (drafted + 1)
    return Space(
        device=device, target="tgt", draft=np.array(col[0], object),
        quant=np.array(col[1], object), k_max=np.array(col[2], int), tau=np.array(col[3], float),
        file=np.array([f"/m/{d}-{q}.gguf" for d, q in zip(col[0], col[1], strict=True)], object),
        draft_power_source=np.array(["estimated:synthetic"] * n, object),
        inputs=RoundInputs(
            drafted=drafted, extra_steps=rng.uniform(0, 1, n), tokens=np.array(col[5], float),
            step_s=np.array(col[6], float), draft_w=np.array(col[7], float), verify_s=verify_s,
            verify_j=150.0 * verify_s,
            predraft_max=np.where(np.array(col[8]) == "proactive", np.array(col[2], float), 0.0),
            reuse=np.array(col[9], float),
        ),
        terms=terms(), idle_source="estimated:synthetic",
        server_energy_source="estimated:synthetic", overlap=np.array(col[8], object),
    )  # fmt: skip
