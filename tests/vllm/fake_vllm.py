"""A faithful fake of vLLM's OpenAI server, the parts configspec uses, over a fake model.

Same routes, request fields and response shapes as vLLM 0.32 (vllm/entrypoints/openai/
completion/protocol.py, serve/tokenize/protocol.py): prompt logprobs as a list with None
first and {"id": {"logprob", "rank", "decoded_token"}} after, holding the top N by rank plus
the prompt's own token; a 400 naming "max allowed" when N exceeds --max-logprobs; streaming
completions as server-sent events ending in [DONE]; Prometheus counters. Token ids are
characters (ord/chr), as in tests/fakes.FakeRunner.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max()
    return z - np.log(np.exp(z).sum())


class FakeVllm:
    def __init__(self, next_logits, n_vocab: int, max_logprobs: int = 20,
                 model_id: str = "fake-model", max_model_len: int = 4096,
                 vocab_offset: int = 0, token_delay_s: float = 0.0):  # fmt: skip
        self.next_logits = next_logits
        self.n_vocab = n_vocab
        self.max_logprobs = max_logprobs
        self.model_id = model_id
        self.max_model_len = max_model_len
        self.vocab_offset = vocab_offset
        self.token_delay_s = token_delay_s
        self.requests = 0
        self.prompt_tokens = 0
        self.generation_tokens = 0
        self.bodies: list[dict] = []
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeVllm:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # ---- the fake model ----------------------------------------------------------------------
    def tokenize(self, text: str) -> list[int]:
        return [(ord(c) + self.vocab_offset) % self.n_vocab for c in text]

    def detokenize(self, ids: list[int]) -> str:
        return "".join(chr((t - self.vocab_offset) % self.n_vocab) for t in ids)

    def position(self, prefix: list[int], token: int, n: int) -> dict:
        lp = log_softmax(self.next_logits(tuple(prefix)))
        order = np.argsort(-lp, kind="stable")
        ranks = np.empty(len(lp), dtype=np.int64)
        ranks[order] = np.arange(1, len(lp) + 1)
        ids = [int(i) for i in order[:n]]
        if token not in ids:
            ids.append(int(token))
        return {str(i): {"logprob": float(lp[i]), "rank": int(ranks[i]),
                         "decoded_token": self.detokenize([i])} for i in ids}  # fmt: skip

    def greedy(self, prompt: list[int], n: int) -> list[int]:
        out = list(prompt)
        for _ in range(n):
            out.append(int(np.argmax(self.next_logits(tuple(out)))))
        return out[len(prompt) :]

    # ---- HTTP --------------------------------------------------------------------------------
    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, code: int, payload) -> None:
                body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                if self.path == "/health":
                    self._send(200, b"")
                elif self.path == "/version":
                    self._send(200, {"version": "0.0-fake"})
                elif self.path == "/v1/models":
                    self._send(200, {"object": "list", "data": [{
                        "id": fake.model_id, "object": "model", "root": "/nonexistent/fake",
                        "max_model_len": fake.max_model_len}]})  # fmt: skip
                elif self.path == "/metrics":
                    text = (f"# TYPE vllm:request_success_total counter\n"
                            f'vllm:request_success_total{{finished_reason="length"}} {fake.requests}\n'
                            f"vllm:prompt_tokens_total {fake.prompt_tokens}\n"
                            f"vllm:generation_tokens_total {fake.generation_tokens}\n")  # fmt: skip
                    self._send(200, text.encode())
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake._lock:
                    fake.bodies.append(body)
                if self.path == "/tokenize":
                    self._send(200, {"tokens": fake.tokenize(body["prompt"]), "count": 0,
                                     "max_model_len": fake.max_model_len})  # fmt: skip
                elif self.path == "/detokenize":
                    self._send(200, {"prompt": fake.detokenize(body["tokens"])})
                elif self.path == "/v1/completions":
                    self._completion(body)
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def _completion(self, body: dict) -> None:
                prompt = body["prompt"]
                n = body.get("prompt_logprobs")
                if n is not None and n > fake.max_logprobs:
                    self._send(400, {"error": {"message": f"Requested prompt logprobs of {n}, "
                                               f"which is greater than max allowed: "
                                               f"{fake.max_logprobs}", "code": 400}})  # fmt: skip
                    return
                if len(prompt) + body.get("max_tokens", 16) > fake.max_model_len:
                    self._send(400, {"error": {"message": "maximum context length exceeded"}})
                    return
                generated = fake.greedy(prompt, body.get("max_tokens", 16))
                with fake._lock:
                    fake.requests += 1
                    fake.prompt_tokens += len(prompt)
                    fake.generation_tokens += len(generated)
                if body.get("stream"):
                    self._stream(generated)
                    return
                choice = {"index": 0, "text": fake.detokenize(generated),
                          "finish_reason": "length"}  # fmt: skip
                if n is not None:
                    choice["prompt_logprobs"] = [None] + [
                        fake.position(prompt[:i], prompt[i], n) for i in range(1, len(prompt))
                    ]
                self._send(200, {"id": "cmpl-fake", "object": "text_completion",
                                 "model": fake.model_id, "choices": [choice]})  # fmt: skip

            def _stream(self, generated: list[int]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for i, token in enumerate(generated):
                    time.sleep(fake.token_delay_s)
                    last = i == len(generated) - 1
                    event = {"choices": [{"index": 0, "text": fake.detokenize([token]),
                                          "token_ids": [token],
                                          "finish_reason": "length" if last else None}]}  # fmt: skip
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        return Handler
