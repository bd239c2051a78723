"""The alignment profile: how often a draft's tokens survive verification by its target.

Computed once from teacher-forced traces (see configspec/alignment/); every policy (fixed K,
confidence threshold, tree width) is derived from the same traces. Per-position traces are stored
beside the JSON (`traces_file`, .npz).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from configspec.profiles.environment import Environment
from configspec.profiles.policy import Policy

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
    # expected_tokens_per_start = E[N_s] averaged uniformly over start positions (docs/alignment.md)
    expected_tokens_per_start: float | None = None
    # rounds whose draft stopped on a low-confidence token (it paid that forward call), per round;
    # None in profiles made before it was recorded
    stopped_early_per_round: float | None = None

    # greedy fixed K: share of rounds with every draft accepted whose bonus token the draft
    # guessed next (proactive drafting reuses its pre-drafts then; docs/model.md). None for
    # sampled cells, thresholds and profiles written before it was recorded.
    reuse_per_round: float | None = None
    # greedy walks: the share of rounds that drafted 0, 1, 2, ... tokens (a verification costs
    # the mean of t_v(D) over them, not t_v of the mean D; docs/model.md). None for sampled
    # cells and in profiles written before it was recorded.
    drafted_shares: list[float] | None = None

    @property
    def policy(self) -> Policy:
        return Policy(k_max=self.k_max, tau=self.tau)


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
    # greedy: the tau grid at k_max with llama.cpp's own confidence (the top token's probability
    # over the draft's top 10 logits at T = 1, as --spec-draft-p-min reads it); empty in sampled
    # cells and in profiles made before it was recorded
    llama_cpp_threshold: list[PolicyStats] = Field(default_factory=list)

    def stats(self, policy: Policy) -> PolicyStats:
        """The figures of one policy (fixed K or threshold, as walked in this cell's traces)."""
        pool = self.threshold if policy.is_threshold else self.fixed_k
        for stats in pool:
            if stats.policy == policy:
                return stats
        raise KeyError(f"no policy {policy.label} for {self.draft} {self.quant} ({self.mode})")


class AlignmentSettings(BaseModel):
    """How `configspec align` aligns, used while aligning and recorded in the profile."""

    prompts_file: str = "configspec/data/prompts.jsonl"  # the shipped set, or the user's file
    n_prompts: int = 0  # prompts aligned (known once the set is chosen)
    new_tokens: int = 128  # tokens the target writes per prompt
    temperature: float = 0.7  # of the sampled continuation; 0: greedy only
    seed: int = 0
    k_max: int = 16  # the largest fixed K, and the K max of threshold policies
    tau_grid: list[float] = Field(default_factory=lambda: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7,
                                                           0.8, 0.9])  # fmt: skip
    monte_carlo_passes: int | None = 400  # sampled-mode CI
    rank_cap: int = 8  # ranks are 0..7; 8 = not in the draft's top 8
    target_logits: str = "recorded while the target generated the continuation"

    @property
    def modes(self) -> tuple[str, ...]:
        return ("greedy", "sampled") if self.temperature > 0 else ("greedy",)


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
