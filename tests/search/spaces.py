"""Random spaces for search tests, built directly (no profiles): arrays of round numbers."""

from __future__ import annotations

import numpy as np

from configspec.analytic.evaluate import DeviceTerms, RoundInputs
from configspec.profiles.policy import Policy
from configspec.search.engines import CONFIGSPEC
from configspec.search.space import (
    SPECULATIVE,
    TARGET_ON_DEVICE,
    TARGET_ON_SERVER,
    Space,
    object_array,
)


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
                 device: str = "edge", target_alone: bool = False) -> Space:  # fmt: skip
    """Random speculative rows (draft x quant x policy, thresholds at K max), some re-reading
    their verified batch as llama.cpp does; with `target_alone`, the two rows without
    speculation too (the target alone on the server and on the device)."""
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(drafts):
        a = rng.uniform(0.4, 0.95)
        for q in range(quants):
            step = rng.uniform(0.005, 0.05)
            power = rng.uniform(3, 30)
            for k in range(1, ks + 1):
                for tau in [None, *np.linspace(0.2, 0.8, taus)]:
                    if tau is not None and k != ks:
                        continue  # thresholds at K_max only, like the alignment profile
                    policy = Policy(k_max=k, tau=None if tau is None else float(tau))
                    drafted = k if tau is None else k * (1 - tau * rng.uniform(0.3, 0.9))
                    tokens = (1 - a ** (drafted + 1)) / (1 - a)
                    reread = rng.choice([0.0, step * (1 + drafted) / 2])
                    rows.append((f"d{d}", f"q{q}", policy, SPECULATIVE, drafted, tokens, step,
                                 power, reread, 1.0, 1.0, rng.uniform(0, 1)))  # fmt: skip
    if target_alone:  # drafted, tokens, step, power, reread, network, edge, extra
        rows.append(("tgt", "q0", Policy.none(), TARGET_ON_SERVER, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0,
                     0.0, 0.0))  # fmt: skip
        rows.append(("tgt", "q1", Policy.none(), TARGET_ON_DEVICE, 0.0, 1.0,
                     rng.uniform(0.05, 0.2), rng.uniform(5, 40), 0.0, 0.0, 1.0, 1.0))  # fmt: skip
    n = len(rows)
    col = list(zip(*rows, strict=True))
    drafted = np.array(col[4], float)
    on_server = np.array(col[3], object) != TARGET_ON_DEVICE
    verify_s = np.where(on_server, 0.03 + 0.01 * (drafted + 1), 0.0)
    return Space(
        device=device, target="tgt", target_quant="q0", engine=CONFIGSPEC, draft=object_array(col[0]),
        quant=object_array(col[1]), policy=object_array(col[2]), runs=object_array(col[3]),
        file=object_array([f"/m/{d}-{q}.gguf" for d, q in zip(col[0], col[1], strict=True)]),
        draft_power_source=object_array(["estimated:synthetic"] * n),
        energy_source=object_array(["estimated: synthetic"] * n),
        inputs=RoundInputs(
            drafted=drafted, extra_steps=np.array(col[11], float), tokens=np.array(col[5], float),
            step_s=np.array(col[6], float), draft_w=np.array(col[7], float), verify_s=verify_s,
            verify_j=150.0 * verify_s, ingest_s=np.array(col[8], float),
            network=np.array(col[9], float), edge=np.array(col[10], float),
        ),
        terms=terms(),
    )  # fmt: skip
