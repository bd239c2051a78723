"""A real gRPC verification server (configspec's own service and engine) around a fake target,
in a background thread on loopback; stopped by the test that started it."""

from __future__ import annotations

import asyncio
import threading

import grpc

from configspec.alignment.tokenizers import tokenizer_fingerprint
from configspec.serving.engine import VerifyEngine
from configspec.serving.proto import verify_pb2_grpc as pb_grpc
from configspec.serving.protocol import GRPC_OPTIONS
from configspec.serving.relay import LinkShape
from configspec.serving.server import TargetInfo, VerifierService


class FakeServer:
    def __init__(self, runner, max_sessions=4, ctx=4096, max_batch=4, window_s=0.0, chunk=16,
                 idle_timeout_s=60.0):  # fmt: skip
        self.runner = runner
        self.engine = VerifyEngine(runner, max_sessions, ctx, max_batch, window_s, chunk,
                                   idle_timeout_s)  # fmt: skip
        self.target = TargetInfo("fake-target", "fake", "0" * 64, tokenizer_fingerprint(runner),
                                 runner.n_vocab)  # fmt: skip
        self._started = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self._stop = asyncio.Event()
            server = grpc.aio.server(options=GRPC_OPTIONS)
            pb_grpc.add_VerifierServicer_to_server(VerifierService(self.engine, self.target),
                                                   server)  # fmt: skip
            self.port = server.add_insecure_port("127.0.0.1:0")
            await server.start()
            self._started.set()
            await self._stop.wait()
            self.engine.stop()
            await server.stop(grace=0.5)

        self._loop.run_until_complete(main())

    def __enter__(self) -> FakeServer:
        self.engine.start()
        self._thread.start()
        assert self._started.wait(10)
        return self

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)

    def __exit__(self, *exc) -> None:
        self.stop()


NO_NETWORK = LinkShape()
