"""A small HTTP client for vLLM's OpenAI-compatible server (stdlib only: no vLLM import here).

Endpoints used (vllm/entrypoints: openai/completion/protocol.py, serve/tokenize/protocol.py):
  GET  /v1/models                 the served model id and max_model_len
  POST /tokenize, /detokenize     the served tokenizer (the fingerprint check)
  POST /v1/completions            `prompt` as token ids, `prompt_logprobs` N, `max_tokens`
  GET  /metrics                   Prometheus text: vLLM's own counters
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

from configspec.errors import ConfigspecError

TIMEOUT_S = 600.0  # one request; a CPU prefill of a few thousand tokens takes seconds


class VllmUnreachable(ConfigspecError):
    """No vLLM server answers at the URL."""


@dataclass(frozen=True)
class PositionLogprobs:
    """vLLM's prompt logprobs at one position: the top-N ids and log-probabilities (raw, T = 1),
    plus the prompt's own token there with its rank."""

    top_ids: list[int]
    top_logprobs: list[float]
    token: int
    token_logprob: float
    token_rank: int


class VllmClient:
    def __init__(self, url: str, timeout_s: float = TIMEOUT_S):
        self.url = url.rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            raise ConfigspecError(f"--vllm-url takes http://HOST:PORT, not {url!r}")
        self.timeout_s = timeout_s
        self.requests = 0  # /v1/completions calls made (cross-checked with vLLM's counters)
        self.prompt_tokens = 0  # prompt tokens sent in them

    # ---- plumbing -------------------------------------------------------------------------
    def _open(self, path: str, body: dict | None = None, timeout_s: float | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, headers={"Content-Type": "application/json"}
        )
        try:
            return urllib.request.urlopen(request, timeout=timeout_s or self.timeout_s)
        except urllib.error.HTTPError as exc:
            raise ConfigspecError(self._refusal(exc, path)) from exc
        except (urllib.error.URLError, ConnectionError, TimeoutError,
                http.client.HTTPException) as exc:  # fmt: skip
            raise VllmUnreachable(
                f"no vLLM server answers at {self.url} ({getattr(exc, 'reason', exc)}); start "
                "one (configspec starts it without --vllm-url) or check --vllm-url"
            ) from exc

    def _refusal(self, exc: urllib.error.HTTPError, path: str) -> str:
        try:
            detail = json.loads(exc.read() or b"{}")
            message = detail.get("error", {}).get("message") or detail.get("message") or detail
        except (ValueError, AttributeError):
            message = exc.reason
        text = " ".join(str(message).split())[:300]
        if "max allowed" in text and "logprobs" in text:
            return (f"vLLM at {self.url} refused {path}: {text}; ask for fewer top logprobs "
                    "(--vllm-top-logprobs) or start vLLM with a larger --max-logprobs")  # fmt: skip
        return f"vLLM at {self.url} refused {path} (HTTP {exc.code}): {text}"

    def _json(self, path: str, body: dict | None = None, timeout_s: float | None = None):
        with self._open(path, body, timeout_s) as response:
            return json.loads(response.read())

    # ---- endpoints --------------------------------------------------------------------------
    def model(self, timeout_s: float = 5.0) -> dict:
        """The one served model: {"id", "root", "max_model_len", ...}."""
        data = self._json("/v1/models", timeout_s=timeout_s)["data"]
        if not data:
            raise ConfigspecError(f"vLLM at {self.url} serves no model")
        return data[0]

    def healthy(self, timeout_s: float = 2.0) -> bool:
        try:
            with self._open("/health", timeout_s=timeout_s) as response:
                return response.status == 200
        except ConfigspecError:
            return False

    def version(self) -> str:
        try:
            return str(self._json("/version", timeout_s=5.0).get("version", "?"))
        except ConfigspecError:
            return "?"

    def tokenize(self, text: str, add_special: bool = True) -> list[int]:
        body = {"prompt": text, "add_special_tokens": add_special}
        return list(self._json("/tokenize", body)["tokens"])

    def detokenize(self, tokens: list[int]) -> str:
        return self._json("/detokenize", {"tokens": list(tokens)})["prompt"]

    def prompt_logprobs(self, model: str, prompt: list[int], top_n: int,
                        first: int = 1) -> list[PositionLogprobs]:  # fmt: skip
        """vLLM's logprobs for the tokens of `prompt` from position `first` on: entry j is the
        distribution after prompt[: first + j] (the logit row of position first + j - 1).
        One request, max_tokens 1 (vLLM generates at least one token; it is ignored)."""
        body = {"model": model, "prompt": [int(t) for t in prompt], "max_tokens": 1,
                "temperature": 0.0, "prompt_logprobs": top_n,
                "add_special_tokens": False}  # fmt: skip
        self.requests += 1
        self.prompt_tokens += len(prompt)
        choice = self._json("/v1/completions", body)["choices"][0]
        rows = choice.get("prompt_logprobs")
        if rows is None or len(rows) != len(prompt):
            raise ConfigspecError(f"vLLM at {self.url} returned no prompt logprobs for a "
                                  f"{len(prompt)}-token prompt")  # fmt: skip
        return [
            parse_position(rows[i], prompt[i], top_n) for i in range(max(1, first), len(prompt))
        ]

    def stream_completion(self, body: dict) -> Iterator[dict]:
        """POST /v1/completions with stream=True; yields each server-sent event's JSON."""
        self.requests += 1
        self.prompt_tokens += len(body.get("prompt") or [])
        with self._open("/v1/completions", {**body, "stream": True}) as response:
            for raw in response:
                line = raw.decode().strip()
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    return
                yield json.loads(payload)

    def metrics(self) -> dict[str, float]:
        """vLLM's Prometheus counters and gauges, summed over label sets: {name: value}."""
        with self._open("/metrics", timeout_s=10.0) as response:
            return parse_prometheus(response.read().decode())


def parse_position(entry: dict | None, token: int, top_n: int) -> PositionLogprobs:
    """One prompt position of the response, {"id": {"logprob", "rank", "decoded_token"}}: the
    top N by rank, and the prompt's own token (vLLM adds it as an N+1-th entry when it is
    outside the top N; it is kept apart so the top N do not depend on the prompt)."""
    if not entry:
        raise ConfigspecError("vLLM returned an empty prompt-logprobs position")
    own = entry.get(str(token))
    if own is None:
        raise ConfigspecError(f"vLLM's prompt logprobs lack the prompt's own token {token}")
    top = sorted(((int(k), v) for k, v in entry.items() if int(v["rank"]) <= top_n),
                 key=lambda kv: kv[1]["rank"])  # fmt: skip
    return PositionLogprobs(
        top_ids=[i for i, _ in top], top_logprobs=[float(v["logprob"]) for _, v in top],
        token=token, token_logprob=float(own["logprob"]), token_rank=int(own["rank"]),
    )  # fmt: skip


def parse_prometheus(text: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, value = line.rpartition(" ")
        name = name_labels.split("{", 1)[0]
        try:
            values[name] = values.get(name, 0.0) + float(value)
        except ValueError:
            continue
    return values
