"""What `configspec fleet` hands the load generator process: every group's devices, traces and
step-time samples, and where each group's network link (relay) listens. JSON on disk."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel

from configspec.fleet.inputs import FleetInputs
from configspec.fleet.workload import PromptWork, StepSamples
from configspec.profiles.policy import Policy


class PromptPlan(BaseModel):
    id: str
    prompt_ids: list[int]
    tokens: list[int]
    match: list[bool]
    confidence: list[float]

    def work(self) -> PromptWork:
        return PromptWork(self.id, self.prompt_ids, np.asarray(self.tokens, np.int64),
                          np.asarray(self.match, bool), np.asarray(self.confidence, float))  # fmt: skip


class GroupPlan(BaseModel):
    name: str
    address: str  # the group's relay: every device opens its own connection through it
    count: int
    policy: Policy
    arrival: str  # closed | open
    think_s: float
    sessions_per_s: float | None
    family: str
    fingerprint: str
    step_contexts: list[int]
    step_samples: list[list[float]]
    prompts: list[PromptPlan]

    def steps(self) -> StepSamples:
        return StepSamples(tuple(self.step_contexts),
                           tuple(np.asarray(s, float) for s in self.step_samples))  # fmt: skip


class Plan(BaseModel):
    groups: list[GroupPlan]
    duration_s: float  # measured span, after the ramp
    ramp_s: float  # devices start spread over this span
    seed: int
    round_timeout_s: float
    n_vocab: int


def make_plan(inputs: FleetInputs, addresses: dict[str, str], fingerprints: dict[str, str],
              duration_s: float, ramp_s: float, seed: int, round_timeout_s: float) -> Plan:  # fmt: skip
    groups = []
    for g in inputs.groups:
        spec = g.group
        groups.append(GroupPlan(
            name=spec.name, address=addresses[spec.name], count=spec.count,
            policy=spec.policy, arrival=spec.arrival.kind, think_s=spec.arrival.think_s,
            sessions_per_s=spec.arrival.sessions_per_s, family=g.draft.family,
            fingerprint=fingerprints[g.draft.name], step_contexts=list(g.steps.contexts),
            step_samples=[s.tolist() for s in g.steps.samples],
            prompts=[PromptPlan(id=p.id, prompt_ids=p.prompt_ids, tokens=p.tokens.tolist(),
                                match=p.match.tolist(), confidence=p.confidence.tolist())
                     for p in g.prompts],
        ))  # fmt: skip
    return Plan(groups=groups, duration_s=duration_s, ramp_s=ramp_s, seed=seed,
                round_timeout_s=round_timeout_s, n_vocab=inputs.n_vocab)  # fmt: skip
