"""The verification profile: how long the target takes to score K+1 tokens, where it runs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from configspec.profiles.environment import Environment
from configspec.profiles.summary import Summary

VERIFICATION_SCHEMA_VERSION = 1


class VerifyPoint(BaseModel):
    k: int  # draft tokens verified; the forward covers k + 1 tokens per sequence
    batch: int  # sequences verified in one call
    context_tokens: int  # tokens already in each sequence's KV cache
    latency_s: Summary  # one sample per repetition, the whole call
    energy_j: Summary | None = None  # per call, all sequences together
    power_source: str | None = None
    # energy is read over windows of this many consecutive calls (>= the meter's update period)
    calls_per_energy_window: int | None = None


class VerifySettings(BaseModel):
    """How `configspec verify-latency` measures, used while measuring and recorded in the profile
    (optional there: files from before it existed lack it)."""

    ks: list[int] = Field(default_factory=lambda: list(range(17)))  # K: K + 1 tokens per call
    # K at batch sizes above 1 (None: ks). A CPU's cost is not linear in K: llama.cpp's repacked
    # CPU kernels take rows in groups of 4 and the rest one by one (docs/verification.md), so
    # batch 1, which every recommendation reads, is timed at every K and larger batches sparser.
    batched_ks: list[int] | None = None
    contexts: list[int] = Field(default_factory=lambda: [128, 512])
    batch_sizes: list[int] = Field(default_factory=lambda: [1, 2, 4, 8])
    repetitions: int = 5
    # sweeps over the whole grid, the repetitions split between them: a machine whose speed
    # drifts over minutes (a shared VM) spreads the drift over every point instead of
    # confounding it with whichever context or batch size came last (profiling/verification.py)
    passes: int = 1
    warmup_calls: int = 1
    all_logits: bool = True  # the call returns every row's logits, as verification needs
    kv_layout: str = ""  # how batched sequences are laid out in the KV cache

    @property
    def n_ctx(self) -> int:
        """KV positions each sequence needs."""
        return max(self.contexts) + self.k_max + 1 + 8

    @property
    def k_max(self) -> int:
        return max([*self.ks, *(self.batched_ks or [])])

    def ks_at(self, batch: int) -> list[int]:
        """The K values timed at this batch size."""
        return self.ks if batch == 1 or self.batched_ks is None else self.batched_ks

    def repetitions_in_pass(self, index: int) -> int:
        """Timed calls per point in pass `index`: the repetitions split as evenly as they go."""
        base, extra = divmod(self.repetitions, self.passes)
        return base + (index < extra)

    def points(self, batch_sizes: list[int] | None = None) -> list[tuple[int, int, int]]:
        """(context, batch, K) in measuring order: one prefill per context, one copy per batch."""
        batches = batch_sizes or self.batch_sizes
        return [(c, b, k) for c in self.contexts for b in batches for k in self.ks_at(b)]


class VerificationProfile(BaseModel):
    schema_version: Literal[1] = VERIFICATION_SCHEMA_VERSION
    kind: Literal["verification"] = "verification"
    environment: Environment
    target: str
    target_quant: str
    target_sha256: str
    repetitions: int
    settings: VerifySettings | None = None
    target_file: str | None = None
    load_s: float | None = None
    power_basis: str | None = None  # what an estimated power figure rests on
    points: list[VerifyPoint] = Field(default_factory=list)
    idle_power_w: float | None = None
    idle_source: str | None = None
    interrupted: bool = False
    warnings: list[str] = Field(default_factory=list)
