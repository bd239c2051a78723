"""Server time for one forward call over several sessions' rounds of different draft lengths.

The verification profile times t_v(K, B, context): one call over K + 1 tokens for each of B
sequences (equal lengths). A real batch mixes lengths (a K = 1 device and a K = 8 device in one
call) and may carry a prefill chunk. How the call is laid out decides its cost:

- ragged (llama.cpp's server, configspec serve): every session's tokens go in ONE llama_batch,
  each at its own sequence and position, so nothing is padded and the call costs what its total
  tokens T = sum(D_i + 1) (+ the chunk) cost: t_v read at the same B and the mean length,
  K = T / B - 1 (the cost of a CPU/GPU forward is set by the tokens in it; llama.cpp
  `llama_batch`, tools/server `update_slots` packing every slot's tokens into one batch);
- padded (frameworks that stack sequences in a rectangular tensor): every sequence is padded to
  the longest, t_v(max D_i, B).

t_v is linear between profiled batch sizes and continued linearly past the largest one (the
verify-latency grid should cover the batch sizes the server forms).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from configspec.analytic.inputs import VerifyCurve, verify_curve
from configspec.errors import ConfigspecError
from configspec.profiles.verification import VerificationProfile

PACKINGS = ("ragged", "padded")


@dataclass(frozen=True)
class BatchCost:
    """t_v over (tokens per sequence, batch size, context) from one verification profile."""

    curves: dict[int, VerifyCurve]  # one per profiled batch size
    packing: str = "ragged"

    @classmethod
    def of(cls, profile: VerificationProfile, packing: str = "ragged") -> BatchCost:
        if packing not in PACKINGS:
            raise ConfigspecError(f"packing is ragged or padded, not {packing!r}")
        sizes = sorted({p.batch for p in profile.points})
        if not sizes:
            raise ConfigspecError("the verification profile has no points; run verify-latency")
        return cls({b: verify_curve(profile, b) for b in sizes}, packing)

    @property
    def largest_batch(self) -> int:
        return max(self.curves)

    @property
    def largest_context(self) -> int:
        """The largest profiled context; t_v is held there beyond it."""
        return max(max(c.contexts) for c in self.curves.values())

    def latency_s(self, k: float, batch: float, context_tokens: float) -> float:
        """t_v(K, B, context), linear in B between profiled sizes and past the largest."""
        sizes = sorted(self.curves)
        ctx = int(round(context_tokens))
        at = {b: float(self.curves[b].latency(k, ctx)) for b in sizes}
        if len(sizes) == 1:
            return at[sizes[0]] * (batch / sizes[0] if batch > sizes[0] else 1.0)
        if batch <= sizes[-1]:
            return float(np.interp(batch, sizes, [at[b] for b in sizes]))
        b0, b1 = sizes[-2], sizes[-1]
        return at[b1] + (batch - b1) * (at[b1] - at[b0]) / (b1 - b0)

    def call_s(self, round_tokens: Sequence[int], prefill_tokens: int,
               context_tokens: float) -> float:  # fmt: skip
        """One forward call: rounds of `round_tokens[i]` = D_i + 1 tokens, plus a prefill chunk."""
        b = len(round_tokens)
        if b == 0:
            return (
                self.latency_s(max(prefill_tokens, 1) - 1, 1, context_tokens)
                if prefill_tokens
                else 0.0
            )
        if self.packing == "ragged":
            total = sum(round_tokens) + prefill_tokens
            return self.latency_s(total / b - 1, b, context_tokens)
        longest = max([*round_tokens, prefill_tokens])
        return self.latency_s(longest - 1, b + (prefill_tokens > 0), context_tokens)
