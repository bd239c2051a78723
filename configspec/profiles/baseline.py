"""The server-only baseline, measured (kind: baseline): the target served alone by a real serving
engine (vLLM, continuous batching) to N concurrent closed-loop sessions, the same prompts and
lengths as an edge run. Raw samples are kept."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from configspec.profiles.environment import Environment
from configspec.profiles.summary import Summary

BASELINE_SCHEMA_VERSION = 1


class BaselineSettings(BaseModel):
    target: str
    target_file_sha256: str
    engine: str  # vllm
    engine_version: str
    url: str
    started_by_configspec: bool
    engine_start_s: float | None = None  # launch to ready, when configspec started it
    enforce_eager: bool = False
    threads: int
    sessions: int  # concurrent closed-loop sessions
    prompts: str
    n_requests: int
    max_new_tokens: int
    lengths_from: str | None = None  # an e2e profile whose per-prompt lengths were replayed
    ignore_eos: bool = False
    temperature: float = 0.0


class RequestSample(BaseModel):
    prompt_id: str
    session: int  # which closed-loop worker sent it
    prompt_tokens: int
    tokens: int
    sent_s: float  # since the run started
    ttft_s: float  # sent to the first token
    decode_s: float  # first token to the last
    token_gaps_s: list[float] = Field(default_factory=list)  # per token after the first


class ServerSample(BaseModel):
    t_s: float
    running: float  # vLLM's num_requests_running gauge
    waiting: float


class BaselineProfile(BaseModel):
    schema_version: Literal[1] = BASELINE_SCHEMA_VERSION
    kind: Literal["baseline"] = "baseline"
    environment: Environment
    settings: BaselineSettings
    duration_s: float  # first request sent to last answer
    tokens: int
    verified_tokens_per_s: float  # all generated tokens / duration (every token is the target's)
    per_session_tokens_per_s: Summary | None = None  # each request's tokens / its decode time
    inter_token_latency_s: dict[str, float] = Field(default_factory=dict)  # p50, p90, p99
    ttft_s: Summary | None = None
    # utilisation: busy = share of the run with a request in vLLM (its running gauge, sampled);
    # mean_running = the mean batch vLLM ran; cpu = the vLLM processes' CPU time / (wall x
    # threads), only when configspec started them (None otherwise)
    busy_fraction: float = 0.0
    mean_running: float = 0.0
    cpu_utilisation: float | None = None
    engine_counters: dict[str, float] = Field(default_factory=dict)
    requests: list[RequestSample] = Field(default_factory=list)
    server_samples: list[ServerSample] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
