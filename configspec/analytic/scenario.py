"""The scenario: what profiles cannot measure — network, payload, prices, power, objectives.

A YAML file (`scenario.yaml` at the repository root is the documented default; the defaults
below are the same values, pinned by a test). Every price is an assumption the user should
replace with their own; the comments in scenario.yaml say where each default comes from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from configspec.errors import ConfigspecError
from configspec.yaml_config import load_yaml_model

SCENARIO_SCHEMA_VERSION = 1
DEFAULT_SCENARIO = Path("scenario.yaml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


Overlap = Literal["none", "proactive"]


class Network(_Strict):
    rtt_ms: float = Field(20.0, ge=0)
    up_mbit_s: float = Field(20.0, gt=0)  # edge -> server
    down_mbit_s: float = Field(100.0, gt=0)  # server -> edge


class NetworkOverride(_Strict):
    rtt_ms: float | None = Field(None, ge=0)
    up_mbit_s: float | None = Field(None, gt=0)
    down_mbit_s: float | None = Field(None, gt=0)


class Payload(_Strict):
    """What one round sends. Greedy: the drafted token ids. Lossless sampling: the ids plus the
    draft's probabilities (the target needs q(x) for rejection sampling, Leviathan 2023), a
    vocabulary-sized vector per drafted token unless sparsified to the top-n entries."""

    token_id_bytes: int = Field(4, ge=1)  # int32 ids
    prob_bytes: int = Field(2, ge=1)  # float16 probabilities
    vocab_size: int = Field(151936, ge=2)  # Qwen2.5 embedding rows (the demo pair)
    top_n: int | None = Field(None, ge=1)  # send only the n largest (id, prob) pairs
    header_bytes: int = Field(48, ge=0)  # framing per round, each direction (docs/model.md)
    verdict_bytes: int = Field(34, ge=0)  # the server's answer beyond framing
    # the server's HTTP/2 flow-control window (gRPC's 65535); a larger upload gets one more pair
    # of WINDOW_UPDATE frames back (docs/model.md); 0: a transport without flow control
    flow_window_bytes: int = Field(65535, ge=0)


class Server(_Strict):
    name: str = "verification server"
    price_per_hour_usd: float = Field(0.08925, ge=0)
    power_w: float | None = Field(None, gt=0)  # None: energy from the verification profile
    batch: int = Field(1, ge=1)  # sequences verified per target call


class EdgeDevice(_Strict):
    """SLED-style cost: CAPEX amortised over the hours the device serves + OPEX (electricity)."""

    network: Network = Network()
    purchase_usd: float = Field(600.0, ge=0)
    lifetime_h: float = Field(26280.0, gt=0)  # 3 years
    utilisation: float = Field(0.25, gt=0, le=1)  # share of lifetime hours spent drafting
    electricity_usd_per_kwh: float = Field(0.165, ge=0)
    # drafting overlaps the device's runtime can run: proactive (pre-drafting while a round is
    # in flight) is `configspec edge --overlap proactive`; llama.cpp and vLLM draft synchronously
    overlaps: list[Overlap] = Field(default_factory=lambda: ["none", "proactive"], min_length=1)


class EdgeOverride(_Strict):
    network: NetworkOverride | None = None
    purchase_usd: float | None = Field(None, ge=0)
    lifetime_h: float | None = Field(None, gt=0)
    utilisation: float | None = Field(None, gt=0, le=1)
    electricity_usd_per_kwh: float | None = Field(None, ge=0)
    overlaps: list[Overlap] | None = Field(None, min_length=1)


class Weights(_Strict):
    """Relative importance in the balanced pick (see search/pareto.knee_index)."""

    goodput: float = Field(1.0, ge=0)
    cost: float = Field(1.0, ge=0)
    energy: float = Field(1.0, ge=0)

    @model_validator(mode="after")
    def _not_all_zero(self) -> Weights:
        if self.goodput + self.cost + self.energy == 0:
            raise ValueError("at least one objective weight must be positive")
        return self


class Constraints(_Strict):
    min_goodput_tok_s: float | None = Field(None, ge=0)
    max_joules_per_token: float | None = Field(None, gt=0)
    max_usd_per_1m_tokens: float | None = Field(None, gt=0)


class Scenario(_Strict):
    schema_version: Literal[1] = SCENARIO_SCHEMA_VERSION
    mode: Literal["greedy", "sampled"] = "greedy"
    temperature: float = Field(0.0, ge=0)  # must match the alignment profile when sampled
    context_tokens: int = Field(256, ge=0)  # where step times and verify latency are read
    overhead_ms_per_round: float = Field(0.0, ge=0)  # decoder bookkeeping (sampling, rollback)
    payload: Payload = Payload()
    server: Server = Server()
    default_edge: EdgeDevice = EdgeDevice()
    edge_devices: dict[str, EdgeOverride] = Field(default_factory=dict)
    weights: Weights = Weights()
    constraints: Constraints = Constraints()

    @model_validator(mode="after")
    def _temperature_matches_mode(self) -> Scenario:
        if self.mode == "sampled" and self.temperature <= 0:
            raise ValueError("mode 'sampled' needs temperature > 0")
        if self.mode == "greedy" and self.temperature != 0:
            raise ValueError("mode 'greedy' needs temperature 0")
        return self

    def edge(self, device: str) -> EdgeDevice:
        """The device's settings: `default_edge` with its `edge_devices` entry laid over it."""
        override = self.edge_devices.get(device)
        if override is None:
            return self.default_edge
        merged = self.default_edge.model_dump()
        for key, value in override.model_dump(exclude_none=True).items():
            if key == "network":
                merged["network"].update(value)
            else:
                merged[key] = value
        return EdgeDevice.model_validate(merged)


def load_scenario(path: Path | None = None) -> Scenario:
    """Read a scenario file; None or a missing default file gives the documented defaults."""
    if path is None:
        path = DEFAULT_SCENARIO
        if not path.is_file():
            return Scenario()
    path = Path(path)
    if not path.is_file():
        raise ConfigspecError(f"scenario file {path} not found; pass --scenario PATH")
    return load_yaml_model(
        path, Scenario, expected="a mapping of scenario settings",
        docs_hint="docs/recommend.md 'scenario file'", empty_ok=True,
    )  # fmt: skip
