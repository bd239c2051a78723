"""The alignment profile: how often a draft's tokens survive verification by its target.

Computed once from teacher-forced traces (see configspec/alignment/); every policy (fixed K,
confidence threshold, tree width) is derived from the same traces. Per-position traces are stored
beside the JSON (`traces_file`, .npz).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from configspec.profiles.environment import Environment

ALIGNMENT_SCHEMA_VERSION = 1


class PolicyStats(BaseModel):
    """Per-round means of one drafting policy, from walking (greedy) or expecting over (sampled)
    the traces. Counts follow vLLM's spec-decode metrics: a round drafts, accepts some, emits
    accepted + 1 (the bonus / correction token)."""

    k_max: int
    tau: float | None = None  # confidence threshold; None for fixed K
    drafted_per_round: float
    accepted_per_round: float
    tokens_per_round: float  # accepted + 1
    rounds: float  # number of rounds over all prompts (expected, for sampled)
    tokens_per_round_ci95: tuple[float, float] | None = None
    # sampled: 95% spread of tokens / rounds over Monte Carlo passes of the whole prompt set;
    # expected_tokens_per_start = E[N_s] averaged uniformly over start positions (MODEL.md)
    expected_tokens_per_start: float | None = None
    # greedy fixed K: share of rounds with every draft accepted whose bonus token the draft
    # guessed next (proactive drafting reuses its pre-drafts then; docs/model.md). None for
    # sampled cells, thresholds and profiles written before it was recorded.
    reuse_per_round: float | None = None


class AlignmentCell(BaseModel):
    draft: str
    quant: str
    draft_sha256: str
    target: str
    target_quant: str
    target_sha256: str
    mode: Literal["greedy", "sampled"]
    temperature: float  # 0 for greedy
    n_prompts: int
    n_positions: int
    acceptance_rate: float  # mean of matches (greedy) or of beta (sampled)
    # P(the k-th draft token is accepted | the first k-1 were), k = 1..len
    acceptance_by_position: list[float]
    fixed_k: list[PolicyStats]  # K = 1..k_max
    iid_tokens_per_round: list[float]  # (1 - a^(K+1)) / (1 - a), K = 1..k_max
    threshold: list[PolicyStats] = Field(default_factory=list)  # tau grid at k_max
    topk_coverage: dict[int, float] = Field(default_factory=dict)  # P(target token in draft top-k)
    traces_file: str | None = None  # .npz beside the JSON, relative to the JSON's folder
    traces_key: str | None = None  # prefix of this cell's arrays in traces_file
    prompt_ids: list[str] = Field(default_factory=list)  # prompts walked, in trace order
    confidence: Literal["argmax_prob_t1", "max_q_at_temperature"] | None = None

    def policy(self, k: int, tau: float | None = None) -> PolicyStats:
        pool = self.fixed_k if tau is None else self.threshold
        for stats in pool:
            if stats.k_max == k and stats.tau == tau:
                return stats
        raise KeyError(f"no policy K={k} tau={tau} for {self.draft} {self.quant} ({self.mode})")


class AlignmentSettings(BaseModel):
    prompts_file: str
    n_prompts: int
    new_tokens: int
    temperature: float
    seed: int
    k_max: int
    tau_grid: list[float]
    monte_carlo_passes: int | None = None  # sampled-mode CI
    rank_cap: int = 8  # ranks are 0..7; 8 = not in the draft's top 8
    target_logits: str = "recorded while the target generated the continuation"


class AlignmentProfile(BaseModel):
    schema_version: Literal[1] = ALIGNMENT_SCHEMA_VERSION
    kind: Literal["alignment"] = "alignment"
    environment: Environment
    settings: AlignmentSettings
    cells: list[AlignmentCell] = Field(default_factory=list)
    interrupted: bool = False
    warnings: list[str] = Field(default_factory=list)
    # seconds spent per phase: the target writing continuations, each draft x quant reading them
    phase_s: dict[str, float] = Field(default_factory=dict)
    wall_s: float | None = None
