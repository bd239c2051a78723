"""The recommendations file (recommendations.yaml / .json): written by `configspec recommend`,
read by `configspec report`, the terminal table and whoever deploys the picks.

Version 2: every pick names what runs (speculative decoding, or the target alone), its policy as
a Policy, per engine its own best configuration with that engine's figures, and a `deploy`
section with the `configspec serve` / `configspec edge` command lines. Version 1 files are
refused with a line asking to re-run `configspec recommend`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from configspec.analytic.scenario import Scenario
from configspec.profiles.io import validate_document
from configspec.profiles.policy import Policy

RECOMMENDATIONS_SCHEMA_VERSION = 2
PICK_TITLES = {"goodput": "best goodput", "cost": "best cost", "energy": "best energy",
                    "balanced": "balanced (knee)"}  # fmt: skip


class Predicted(BaseModel):
    """The analytic model's figures for one configuration (docs/model.md)."""

    goodput_tok_s: float
    usd_per_1m_tokens: float
    server_usd_per_1m_tokens: float
    edge_usd_per_1m_tokens: float
    joules_per_token: float
    energy_source: str  # measured: ... or estimated: ..., part by part
    tokens_per_round: float
    drafted_per_round: float
    round_s: float
    draft_s: float
    network_s: float
    verify_s: float
    bytes_up_per_round: float
    devices_per_server: int | None  # None: the server takes no part
    server_rounds_per_s: float | None


class VersusTarget(BaseModel):
    """Against the target decoding alone on the server."""

    speedup: float
    cost_saving: float | None  # None when the target alone costs nothing (a free server)
    energy_saving: float


class Reference(BaseModel):
    """Decoding without speculation (a baseline), evaluated by the same model."""

    name: str
    goodput_tok_s: float
    usd_per_1m_tokens: float
    joules_per_token: float
    energy_source: str


class Configuration(BaseModel):
    runs: str  # speculative decoding | target alone on the server | target alone on the device
    draft: str | None  # None: no draft runs
    quant: str  # the draft's quantization, or the target's where it runs alone
    policy: Policy
    label: str
    predicted: Predicted
    vs_target_autoregressive: VersusTarget

    @property
    def speculates(self) -> bool:
        return self.draft is not None


class EngineSettings(BaseModel):
    """One engine's own best configuration for the pick's objective, searched within what the
    engine runs (search/engines.py), with ready-to-use settings. The draft runs beside the target
    on one host; `colocated_goodput_tok_s` is that round without the network, at the draft speed
    this device's profile measured."""

    engine: str
    configuration: Configuration
    colocated_goodput_tok_s: float
    settings: dict  # llama.cpp: {flags_style, flags, command}; vLLM: {speculative_config}
    notes: list[str] = Field(default_factory=list)


class Deploy(BaseModel):
    """The pick on configspec's own serving layer: the server verifies, the device drafts."""

    serve: str
    edge: str


class Pick(Configuration):
    objective: str
    summary: str  # the recommendation in words
    draft_alone_on_device: Reference | None = None  # a reference: the draft's own output
    deploy: Deploy | None = None  # None when the target runs alone
    engines: dict[str, EngineSettings | None] = Field(default_factory=dict)
    engine_notes: list[str] = Field(default_factory=list)  # why an engine has no settings


class FrontPoint(BaseModel):
    runs: str
    draft: str | None
    quant: str
    policy: Policy
    label: str
    goodput_tok_s: float
    usd_per_1m_tokens: float
    joules_per_token: float


class DeviceRecommendation(BaseModel):
    device: str
    target: str
    method: str  # exact, or optuna (N trials, M configurations evaluated)
    space_size: int
    evaluated: int
    feasible: int
    pareto_front_size: int
    baselines: list[Reference]
    picks: dict[str, Pick]
    pareto_front: list[FrontPoint]
    warnings: list[str] = Field(default_factory=list)


class InputFiles(BaseModel):
    drafting: list[str]
    alignment: str
    verification: str
    scenario: str


class Constraints(BaseModel):
    min_goodput_tok_s: float | None = None
    max_joules_per_token: float | None = None
    max_usd_per_1m_tokens: float | None = None


class Recommendations(BaseModel):
    schema_version: Literal[2] = RECOMMENDATIONS_SCHEMA_VERSION
    kind: Literal["recommendations"] = "recommendations"
    generated_utc: str
    inputs: InputFiles
    scenario: Scenario
    constraints: Constraints
    devices: list[DeviceRecommendation]
    devices_without_alignment: list[str] = Field(default_factory=list)
    input_warnings: list[str] = Field(default_factory=list)


def read_recommendations(data: object, where: str) -> Recommendations:
    """Validate a loaded recommendations file; anything else is one line saying what to do."""
    remedy = "re-run `configspec recommend`"
    return validate_document(data, Recommendations, where, remedy, "recommendations file")
