"""The drafting profile (DeviceProfile): how fast and at what power each draft x quant drafts here."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from configspec.profiles.environment import Environment
from configspec.profiles.machine_load import MachineLoad
from configspec.profiles.summary import Summary

DRAFTING_SCHEMA_VERSION = 1


class DecodeAtContext(BaseModel):
    context_tokens: int  # tokens already in the KV cache when decoding starts
    decode_tokens: int  # tokens decoded per repetition
    tokens_per_s: Summary  # one sample per repetition: decode_tokens / sum(step_s)
    step_s: list[list[float]]  # every timed decode call, per repetition
    energy_j_per_token: Summary  # one sample per repetition
    power_w: Summary  # mean power during each repetition's decode window
    power_source: str  # measured:<meter> or estimated:<basis>
    window_s: list[float] = Field(default_factory=list)  # each energy window's length
    zones_power_w: dict[str, float] = Field(default_factory=dict)  # mean per rail/zone/GPU
    short_windows: int = 0  # windows shorter than the meter's update period (unreliable energy)
    machine_load: MachineLoad | None = None  # what else ran meanwhile; busy = flagged


class Prefill(BaseModel):
    prompt_tokens: int
    tokens_per_s: Summary
    samples_s: list[float]
    machine_load: MachineLoad | None = None


class BatchPoint(BaseModel):
    """One forward call over `tokens` tokens after `context_tokens`, only the last row's logits
    kept: what llama.cpp's draft-simple pays each round to re-read the verified tokens."""

    context_tokens: int
    tokens: int
    latency_s: Summary  # one sample per repetition
    machine_load: MachineLoad | None = None


class DraftCell(BaseModel):
    draft: str
    target: str
    quant: str
    file: str
    file_sha256: str
    file_bytes: int
    load_s: float
    decode: list[DecodeAtContext]
    prefill: Prefill
    batch: list[BatchPoint] = Field(default_factory=list)  # empty in profiles made before it

    def busy_notes(self) -> list[str]:
        """One line per measurement of this cell that ran on a busy machine."""
        parts = [(f"decode @{d.context_tokens}", d.machine_load) for d in self.decode]
        parts.append(("prefill", self.prefill.machine_load))
        parts += [(f"batch of {b.tokens} @{b.context_tokens}", b.machine_load) for b in self.batch]
        return [f"{self.draft} {self.quant} {what}: machine busy ({'; '.join(load.reasons)}) "
                f"after {load.attempts} attempt(s)"
                for what, load in parts if load is not None and load.busy]  # fmt: skip


class DraftingSettings(BaseModel):
    """How `configspec profile` measures, used while measuring and recorded in the profile."""

    threads: int = 2
    repetitions: int = 5  # timed repetitions per measurement
    warmup_tokens: int = 8
    decode_tokens: int = 64  # tokens decoded per repetition
    contexts: list[int] = Field(default_factory=lambda: [16, 512])  # tokens in the cache first
    prefill_tokens: int = 256
    # forwards over n tokens at each context (K + 1 for K = 1, 4, 8, 16); empty before it existed
    batch_tokens: list[int] = Field(default_factory=list)

    @property
    def n_ctx(self) -> int:
        """KV positions the runner needs for every measurement."""
        longest = max(self.contexts) + max([self.decode_tokens + self.warmup_tokens,
                                            *self.batch_tokens])  # fmt: skip
        return max(longest, self.prefill_tokens) + 16


class PowerInfo(BaseModel):
    source: str
    basis: str | None = None
    sampling_period_s: float
    idle_power_w: float  # draw while the device waits for verification (process asleep)
    idle_source: str
    meters_skipped: dict[str, str] = Field(default_factory=dict)
    idle_duration_s: float | None = None  # how long idle power was measured
    sampling_rate_hz: float | None = None  # 1 / sampling_period_s; None for an estimate
    metadata: dict[str, str] = Field(default_factory=dict)  # scope, nvpmodel power mode, GPUs


class DeviceProfile(BaseModel):
    schema_version: Literal[1] = DRAFTING_SCHEMA_VERSION
    kind: Literal["drafting"] = "drafting"
    environment: Environment
    settings: DraftingSettings
    power: PowerInfo
    cells: list[DraftCell] = Field(default_factory=list)
    interrupted: bool = False
    warnings: list[str] = Field(default_factory=list)
