"""Fleets on fake models: a fake target's greedy continuations as traces, fake step times, and
the inputs `configspec fleet` would read from real profiles."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from configspec.fleet.inputs import FleetInputs, GroupInputs
from configspec.fleet.spec import Arrival, Fleet, Group, Network
from configspec.fleet.workload import PromptWork, StepSamples
from configspec.profiles.policy import Policy
from configspec.registry.schema import ModelEntry, Source
from configspec.speculative.decoder import target_only
from tests.fakes import FakeRunner, hashed_logits

V = 40
TARGET_FN = hashed_logits(11, V, peak=4.0)
PROMPTS = ([3, 1, 4, 1, 5], [2, 7, 1, 8], [1, 6, 1, 8, 0, 3])


def prompts(n_new: int = 24, match_rate: float = 0.7, seed: int = 0,
            target_fn=TARGET_FN) -> list[PromptWork]:  # fmt: skip
    """Traces of the fake target's own greedy continuations with random draft matches."""
    rng = np.random.default_rng(seed)
    out = []
    for i, prompt in enumerate(PROMPTS):
        tokens = np.asarray(target_only(FakeRunner(target_fn, V), list(prompt), n_new), np.int64)
        out.append(PromptWork(f"p{i}", list(prompt), tokens, rng.random(len(tokens)) < match_rate,
                              rng.random(len(tokens))))  # fmt: skip
    return out


def draft_entry(family: str = "fake") -> ModelEntry:
    return ModelEntry(name="fake-draft", role="draft", family=family, source=Source(path="/x"),
                      quant="Q4_K_M", quantizations=["Q4_K_M"], target="fake-target")  # fmt: skip


def group_inputs(name: str = "g", count: int = 1, k: int = 3, tau: float | None = None,
                 rtt_ms: float = 0.0, arrival: Arrival | None = None, step_s: float = 0.01,
                 works: list[PromptWork] | None = None) -> GroupInputs:  # fmt: skip
    group = Group(name=name, drafting=Path("unused.json"), draft="fake-draft", quant="Q4_K_M",
                  policy=Policy(k_max=k, tau=tau), count=count, network=Network(rtt_ms=rtt_ms),
                  arrival=arrival or Arrival())  # fmt: skip
    steps = StepSamples((16, 64), (np.full(8, step_s), np.full(8, 1.5 * step_s)))
    return GroupInputs(group=group, device="fake-device", draft=draft_entry(), steps=steps,
                       prompts=works or prompts(), traces_target_sha256="0" * 64,
                       draft_power_w=10.0, draft_power_source="estimated:test",
                       idle_power_w=2.0, idle_power_source="estimated:test")  # fmt: skip


def fleet_inputs(*groups: GroupInputs, **server) -> FleetInputs:
    fleet = Fleet(alignment=Path("alignment.json"), groups=[g.group for g in groups],
                  server=server or {})  # fmt: skip
    target = ModelEntry(name="fake-target", role="target", family="fake", source=Source(path="/y"),
                        quant="Q4_K_M", quantizations=["Q4_K_M"])  # fmt: skip
    return FleetInputs(fleet, target, Path("alignment.json"), None, None, None, list(groups), V)
