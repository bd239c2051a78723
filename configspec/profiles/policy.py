"""A drafting policy: how many tokens the draft proposes in a round.

Three kinds, one type: no speculation (K = 0: the target decodes alone), a fixed K, or a
confidence threshold tau with at most K tokens (the draft stops before a token it is less sure of
than tau; SLED's dynamic drafting, llama.cpp's p-min). `label` is the one way a policy is written
anywhere configspec shows it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True)

    k_max: int = Field(ge=0)  # K for a fixed policy, the most tokens for a threshold; 0: none
    tau: float | None = Field(None, ge=0.0, le=1.0)  # confidence threshold; None: fixed K

    @model_validator(mode="after")
    def _threshold_needs_tokens(self) -> Policy:
        if self.k_max == 0 and self.tau is not None:
            raise ValueError("a confidence threshold needs K max >= 1")
        return self

    @classmethod
    def none(cls) -> Policy:
        return cls(k_max=0)

    @classmethod
    def fixed(cls, k: int) -> Policy:
        return cls(k_max=k)

    @classmethod
    def threshold(cls, k_max: int, tau: float) -> Policy:
        return cls(k_max=k_max, tau=tau)

    @property
    def speculates(self) -> bool:
        return self.k_max > 0

    @property
    def is_threshold(self) -> bool:
        return self.tau is not None

    @computed_field  # written into recommendations.yaml/json next to k_max and tau
    @property
    def label(self) -> str:
        if not self.speculates:
            return "no speculation"
        if self.tau is None:
            return f"K={self.k_max}"
        return f"K<={self.k_max} tau={self.tau:g}"

    def __str__(self) -> str:
        return self.label
