"""The fleet profile (kind: fleet): what `configspec fleet` measured with emulated devices
against a real `configspec serve`. Raw samples are kept (every round and session).

Emulated: the devices' draft compute (a wait sampled from the drafting profile's step times)
and the network (the relay's delay and link rate). Real: the server, its verification of the
drafted tokens, its batching across sessions, and the protocol on the wire.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from configspec.profiles.environment import Environment
from configspec.profiles.policy import Policy
from configspec.profiles.summary import Summary

FLEET_PROFILE_SCHEMA_VERSION = 1

EMULATED = [
    "draft compute: each round waits a drafting time sampled from the drafting profile's raw "
    "step times (one sample per draft forward call) and sends the tokens the alignment traces "
    "say that draft proposes",
    "network: every device's own connection through a relay that adds the group's round trip "
    "and link rate (docs/serving.md, 'The transport')",
]
REAL = [
    "the verification server (configspec serve) and its target model",
    "verification of every drafted token by the target",
    "batching of concurrent sessions' rounds into one forward call, chunked prefill",
    "the gRPC protocol (verify.proto) on the wire",
]


class FleetSettings(BaseModel):
    fleet_file: str
    server: str
    target: str
    target_file_sha256: str
    server_max_sessions: int
    server_max_batch: int
    server_batch_window_s: float
    alignment: str
    verification: str | None
    duration_s: float  # the measured span
    warmup_s: float  # run before it (devices start spread over it), not measured
    seed: int
    round_timeout_s: float
    loadgen: str  # the load generator and its version


class GroupResult(BaseModel):
    name: str
    device: str  # the drafting profile's device
    draft: str
    quant: str
    policy: Policy
    count: int
    rtt_ms: float
    bandwidth_mbit_s: float | None
    arrival: str  # closed (think_s) | open (sessions_per_s)
    think_s: float
    sessions_per_s: float | None
    sessions: dict[str, int] = Field(default_factory=dict)  # by status, sessions that ended
    devices_measured: int = 0  # devices with rounds in the measured span
    rounds: int = 0
    tokens: int = 0
    goodput_tok_s: float = 0.0  # per device while decoding: tokens / round time, device mean
    goodput_per_device_tok_s: list[float] = Field(default_factory=list)
    inter_token_latency_s: dict[str, float] = Field(default_factory=dict)  # mean, p50, p90, p99
    tokens_per_round: float = 0.0
    drafted_per_round: float = 0.0
    draft_s_per_round: float = 0.0
    wait_s_per_round: float = 0.0  # send to verdict: network, queue, verification
    ttft_s: Summary | None = None  # Open sent to the first verdict
    open_wait_s: Summary | None = None  # open loop: arrival to a free device
    bytes_up_per_round: float = 0.0
    bytes_down_per_round: float = 0.0
    edge_j_per_token: float | None = None
    edge_energy_source: str = ""
    server_j_per_token: float | None = None
    server_energy_source: str = ""
    locust: dict[str, float] = Field(default_factory=dict)  # Locust's own round statistics (ms)


class ServerResult(BaseModel):
    verified_tokens_per_s: float = 0.0
    rounds_per_s: float = 0.0
    utilisation: float = 0.0  # sum over rounds of verify_s / batch size, over the span
    batch_size_histogram: dict[int, float] = Field(default_factory=dict)  # calls per size
    batch_size_mean: float = 0.0  # per call
    queue_s: dict[str, float] = Field(default_factory=dict)  # mean, p50, p90, p99
    verify_s_per_call: float = 0.0


class EmulatorLoad(BaseModel):
    cpu_s: float  # the load generator and the relays together
    wall_s: float
    loadgen_cpu_s: float
    relay_cpu_s: float  # this process: relays, bookkeeping
    cores: float  # cpu_s / wall_s
    drafting_lag_s: dict[str, float] = Field(default_factory=dict)  # waited - sampled: p50, p99


class FleetRound(BaseModel):
    """One round of one emulated device (times in seconds since the run started)."""

    group: str
    device: int
    session: int
    index: int
    start_s: float  # drafting began
    answer_s: float  # the verdict arrived
    draft_s: float  # the drafting wait as measured
    draft_target_s: float  # the sampled drafting time it should have been
    drafted: int
    calls: int  # draft forward calls
    accepted: int
    predicted: int  # the trace's accepted count
    emitted: int
    as_predicted: bool  # accepted count and the server's token both as the trace says
    queue_s: float
    verify_s: float
    server_s: float
    batch_size: int
    batch_tokens: int

    @property
    def round_s(self) -> float:
        return self.answer_s - self.start_s


class FleetSession(BaseModel):
    """One session: Open to Close, or to the refusal, timeout or mismatch that ended it."""

    group: str
    device: int
    session: int
    prompt: str
    open_s: float  # Open sent
    opened_s: float | None  # Opened arrived (the server prefilled the prompt)
    end_s: float
    status: str  # done | mismatch | refused | timeout | error | cut
    message: str
    rounds: int
    tokens: int
    waited_s: float = 0.0  # open loop: arrival to a free device


class FleetProfile(BaseModel):
    schema_version: Literal[1] = FLEET_PROFILE_SCHEMA_VERSION
    kind: Literal["fleet"] = "fleet"
    environment: Environment  # the machine the emulated devices ran on
    settings: FleetSettings
    emulated: list[str] = Field(default_factory=lambda: list(EMULATED))
    real: list[str] = Field(default_factory=lambda: list(REAL))
    groups: list[GroupResult] = Field(default_factory=list)
    server: ServerResult = ServerResult()
    emulator: EmulatorLoad | None = None
    rounds_checked: int = 0
    rounds_not_as_predicted: int = 0  # the server's verdict differed from the trace's
    sessions_timed_out: int = 0
    sessions_refused: int = 0
    sessions_failed: int = 0
    open_sessions_unserved: int = 0  # open loop: arrivals still waiting for a device at the end
    round_samples: list[FleetRound] = Field(default_factory=list)
    session_samples: list[FleetSession] = Field(default_factory=list)
    interrupted: bool = False
    warnings: list[str] = Field(default_factory=list)
