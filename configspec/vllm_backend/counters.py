"""vLLM's own counters against configspec's: what the engine says it did over a run.

vLLM's Prometheus metrics (vllm/v1/metrics/loggers.py) count finished requests and the prompt
tokens it prefilled; configspec's client counts the requests it sent and their prompt tokens.
With nobody else using the server the two must agree, and the prompt tokens per round show
the re-prefill cost directly (the whole context, every round)."""

from __future__ import annotations

from configspec.errors import ConfigspecError
from configspec.vllm_backend.client import VllmClient

COUNTERS = {"requests": "vllm:request_success_total", "prompt_tokens": "vllm:prompt_tokens_total"}
OTHERS = {"generation_tokens": "vllm:generation_tokens_total"}


def snapshot(client: VllmClient) -> dict[str, float]:
    """vLLM's counters and the client's own, now."""
    try:
        metrics = client.metrics()
    except ConfigspecError:
        metrics = {}
    return {
        **{f"vllm_{k}": metrics.get(name, float("nan"))
           for k, name in {**COUNTERS, **OTHERS}.items()},
        "sent_requests": float(client.requests), "sent_prompt_tokens": float(client.prompt_tokens),
    }  # fmt: skip


def cross_check(
    client: VllmClient, before: dict[str, float]
) -> tuple[dict[str, float], str | None]:
    """The deltas over the run, and a warning when vLLM's and configspec's counts differ."""
    after = snapshot(client)
    delta = {k: after[k] - before[k] for k in after}
    off = [k for k in COUNTERS if delta[f"vllm_{k}"] != delta[f"sent_{k}"]]
    warning = None
    if off:
        warning = ("vLLM's own counters differ from what configspec sent ("
                   + ", ".join(f"{k}: vLLM {delta[f'vllm_{k}']:g}, sent {delta[f'sent_{k}']:g}"
                               for k in off)
                   + "); another client used the server, or its metrics are off")  # fmt: skip
    return delta, warning
