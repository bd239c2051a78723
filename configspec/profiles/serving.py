"""Profiles of the real edge-server loop: what `configspec serve` measured (kind: serving) and
what one `configspec edge` run measured end to end (kind: e2e). Raw samples are kept."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from configspec.profiles.environment import Environment
from configspec.profiles.summary import Summary

SERVING_SCHEMA_VERSION = 1
E2E_SCHEMA_VERSION = 1


class ServeSettings(BaseModel):
    target: str
    quant: str
    file: str
    file_sha256: str
    backend: str
    threads: int
    host: str
    port: int
    protocol_version: int
    max_sessions: int
    n_ctx_per_session: int
    max_batch: int
    batch_window_s: float
    prefill_chunk_tokens: int
    idle_timeout_s: float


class BatchSample(BaseModel):
    """One target forward call."""

    t_s: float  # since the server started
    rounds: int  # sessions' rounds verified in it (the batch size)
    tokens: int  # all tokens in the call, prefill chunk included
    prefill_tokens: int
    verify_s: float
    context_tokens: float = 0.0  # mean cache position of the rounds in it
    verified_tokens: int = 0  # accepted + 1 over its rounds
    held_tokens: int = 0  # KV cells all open sessions held (one shared buffer; 0: not recorded)


class ServerRoundSample(BaseModel):
    t_s: float
    session: int
    drafted: int
    accepted: int
    queue_s: float
    verify_s: float
    server_s: float
    batch_size: int


class ServingProfile(BaseModel):
    schema_version: Literal[1] = SERVING_SCHEMA_VERSION
    kind: Literal["serving"] = "serving"
    environment: Environment
    settings: ServeSettings
    duration_s: float
    stopped_by: str  # signal | duration | sessions
    sessions_opened: int
    sessions_closed: int
    sessions_refused: int
    sessions_idle_closed: int
    rounds: int
    verified_tokens: int
    draft_tokens: int
    accepted_tokens: int
    prefill_tokens: int
    verified_tokens_per_s: float  # over the time rounds were being served (first to last batch)
    batch_size_histogram: dict[int, int] = Field(default_factory=dict)
    queue_s: Summary | None = None
    verify_s: Summary | None = None  # per forward call that verified rounds
    server_s: Summary | None = None
    batches: list[BatchSample] = Field(default_factory=list)
    round_samples: list[ServerRoundSample] = Field(default_factory=list)
    # --engine vllm: vLLM's own counters over the run beside configspec's (vllm_requests,
    # vllm_prompt_tokens, sent_requests, sent_prompt_tokens); empty for llama.cpp
    engine_counters: dict[str, float] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)


class NetworkSettings(BaseModel):
    emulation: str  # "relay" (in-process TCP relay), "none"
    added_rtt_ms: float  # emulated delay added to the round trip (half each way)
    bandwidth_mbit_s: float | None  # emulated link rate, both directions; None: not limited


class EdgeSettings(BaseModel):
    server: str
    target: str
    target_file_sha256: str
    draft: str
    quant: str
    file: str
    file_sha256: str
    k: int
    tau: float | None
    mode: str  # greedy | sampled
    temperature: float
    top_n: int | None
    max_new_tokens: int
    threads: int
    prompts: str
    seed: int
    network: NetworkSettings
    overlap: str = "none"  # none | proactive (drafting while a round is in flight)


class EdgeRoundSample(BaseModel):
    drafted: int
    accepted: int
    emitted: int
    draft_s: float
    wire_s: float  # send to answer minus the server's own time
    server_queue_s: float
    verify_s: float
    server_s: float
    other_s: float
    total_s: float
    batch_size: int
    bytes_up: int
    bytes_down: int
    # proactive drafting (docs/serving.md): pre-drafting overlaps the flight (wire + server)
    carried: int = 0  # drafts the round started with (the previous round's confirmed pre-drafts)
    predrafted: int = 0  # tokens drafted while the round was in flight
    predraft_s: float = 0.0
    reuse_hit: bool = False  # every draft accepted and the bonus equal to the first pre-draft
    wasted: int = 0  # pre-drafted tokens discarded
    late_s: float = 0.0  # the verdict's arrival to the end of the pre-draft step in progress


class OverlapSummary(BaseModel):
    """Proactive drafting over the run: how often the pre-drafts were reused, what was wasted."""

    rounds_pre_drafting: int  # rounds that pre-drafted (not the last of a prompt, for example)
    reuse_hits: int
    reuse_rate: float  # hits / rounds that pre-drafted
    predrafted_tokens: int
    carried_tokens: int  # drafts that rounds started with, all from hits
    wasted_tokens: int
    wasted_draft_s: float  # the pre-drafting time of the discarded tokens
    late_s_per_round: float  # mean verdict wait for a pre-draft step in progress


class DraftEnergy(BaseModel):
    """The edge's drafting energy: the drafting profile's power x the time the draft ran
    (before each submit and while pre-drafting). Labelled as the profile's power source is."""

    profile: str  # the drafting profile the power came from
    power_w: float
    power_source: str  # measured:<meter> or estimated:<basis>
    context_tokens: int  # where the profile's power was read (interpolated in context)
    draft_j_per_token: float  # all drafting, the wasted pre-drafts included
    wasted_draft_j: float
    wasted_draft_j_per_token: float


class PromptRun(BaseModel):
    id: str
    prompt_tokens: int
    tokens: int
    ttft_s: float  # open sent to the first token emitted (both prefills included)
    decode_s: float  # first round start to last round end
    text: str
    output_ids: list[int] = Field(default_factory=list)
    server_prefill_s: float | None = None  # the server's own account (Opened)
    rounds: list[EdgeRoundSample]


class E2EProfile(BaseModel):
    schema_version: Literal[1] = E2E_SCHEMA_VERSION
    kind: Literal["e2e"] = "e2e"
    environment: Environment
    settings: EdgeSettings
    measured_rtt_s: Summary  # Hello calls through the same transport, before the sessions
    goodput_tok_s: float = 0.0  # all tokens / all decode time
    tokens_per_round: float = 0.0
    drafted_per_round: float = 0.0
    inter_token_latency_s: dict[str, float] = Field(default_factory=dict)  # p50, p90, p99
    ttft_s: Summary | None = None
    acceptance_by_position: list[float] = Field(default_factory=list)
    bytes_up_per_round: float = 0.0
    bytes_down_per_round: float = 0.0
    overlap: OverlapSummary | None = None  # proactive drafting only
    draft_energy: DraftEnergy | None = None  # None without a drafting profile for the cell
    prompts: list[PromptRun] = Field(default_factory=list)
    interrupted: bool = False
    warnings: list[str] = Field(default_factory=list)
