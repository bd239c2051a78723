"""The server's live metrics: Prometheus text on /metrics (prometheus_client) and a log line.

Names follow Prometheus conventions and, for speculative counters, vLLM's spec-decode names
(vllm:spec_decode_num_draft_tokens ...), with the `configspec_` prefix.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from configspec.serving.engine import BatchRecord, RoundRecord

BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64)
SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ServerMetrics:
    def __init__(self, open_sessions: Callable[[], int]):
        self.registry = CollectorRegistry()
        r = self.registry
        self.sessions = Gauge("configspec_sessions_open", "Open sessions", registry=r)
        self.sessions.set_function(open_sessions)
        self.rounds = Counter("configspec_rounds", "Rounds verified", registry=r)
        self.verified = Counter("configspec_verified_tokens", "Tokens verified (accepted + 1 "
                                "per round)", registry=r)  # fmt: skip
        self.drafts = Counter("configspec_spec_decode_num_draft_tokens", "Draft tokens received",
                              registry=r)  # fmt: skip
        self.accepted = Counter("configspec_spec_decode_num_accepted_tokens", "Draft tokens "
                                "accepted", registry=r)  # fmt: skip
        self.batch = Histogram("configspec_batch_size", "Rounds per target forward call",
                               buckets=BATCH_BUCKETS, registry=r)  # fmt: skip
        self.queue = Histogram("configspec_queue_wait_seconds", "Round arrival to its batch",
                               buckets=SECONDS_BUCKETS, registry=r)  # fmt: skip
        self.verify = Histogram("configspec_verify_seconds", "Target forward call per batch",
                                buckets=SECONDS_BUCKETS, registry=r)  # fmt: skip
        self._lock = threading.Lock()
        self._window = (
            time.monotonic(),
            0,
            0,
            0,
        )  # since the last log line: t, rounds, tokens, batches

    def on_batch(self, batch: BatchRecord, rounds: list[RoundRecord]) -> None:
        if rounds:
            self.batch.observe(len(rounds))
        self.verify.observe(batch.verify_s)
        for r in rounds:
            self.rounds.inc()
            self.verified.inc(r.accepted + 1)
            self.drafts.inc(r.drafted)
            self.accepted.inc(r.accepted)
            self.queue.observe(r.queue_s)
        with self._lock:
            t, n, tok, b = self._window
            self._window = (t, n + len(rounds), tok + sum(r.accepted + 1 for r in rounds),
                            b + (1 if rounds else 0))  # fmt: skip

    def serve_http(self, host: str, port: int) -> None:
        start_http_server(port, addr=host, registry=self.registry)

    def log_line(self, open_sessions: int) -> str:
        """Rates since the previous line."""
        with self._lock:
            t, rounds, tokens, batches = self._window
            now = time.monotonic()
            self._window = (now, 0, 0, 0)
        dt = max(now - t, 1e-9)
        mean_batch = rounds / batches if batches else 0.0
        return (f"sessions {open_sessions}, {rounds / dt:.1f} rounds/s, {tokens / dt:.1f} verified "
                f"tok/s, mean batch {mean_batch:.2f}")  # fmt: skip
