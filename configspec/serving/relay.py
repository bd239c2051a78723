"""The edge's transport: a loopback TCP relay between the edge's gRPC channel and the server.

It counts the bytes the connection carries each way (TCP payload: HTTP/2 frames with gRPC's
messages, headers, pings and window updates; not the TCP/IP headers), and can emulate a network
on one machine: a one-way delay added to every chunk in each direction (half the round-trip
delay asked for) and a link rate (each chunk is serialised at `bandwidth` after the previous one
has left, then delayed). This is an emulation in the edge process, labelled so in every profile;
`tc netem` on a real interface is the more faithful tool where one can use it (docs/serving.md).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass

CHUNK_BYTES = 64 << 10


@dataclass
class LinkShape:
    added_rtt_s: float = 0.0  # added to the round trip: half on the way up, half on the way down
    bandwidth_bit_s: float | None = None  # both directions; None: unlimited


class Relay:
    """Listen on 127.0.0.1:<ephemeral>, forward each accepted connection to `upstream`."""

    def __init__(self, upstream_host: str, upstream_port: int, shape: LinkShape):
        self.upstream = (upstream_host, upstream_port)
        self.shape = shape
        self.bytes_up = 0
        self.bytes_down = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="edge-relay", daemon=True)
        self.port = 0
        self._server: asyncio.AbstractServer | None = None
        self._error: BaseException | None = None

    def start(self) -> Relay:
        self._thread.start()
        self._ready.wait()
        if self._error:
            raise self._error
        return self

    def counters(self) -> tuple[int, int]:
        with self._lock:
            return self.bytes_up, self.bytes_down

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(5)

    def _run(self) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        self._stopping = asyncio.Event()
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(self._accept, "127.0.0.1", 0)
            )
            self.port = self._server.sockets[0].getsockname()[1]
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_until_complete(self._stopping.wait())
        self._server.close()
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        try:
            await asyncio.gather(
                self._pump(reader, up_writer, self._count_up),
                self._pump(up_reader, writer, self._count_down),
                return_exceptions=True,
            )
        except asyncio.CancelledError:
            pass  # the relay is stopping; asyncio's stream callback must not see a cancelled task

    def _count_up(self, n: int) -> None:
        with self._lock:
            self.bytes_up += n

    def _count_down(self, n: int) -> None:
        with self._lock:
            self.bytes_down += n

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
        count: Callable[[int], None],
    ) -> None:  # fmt: skip
        """Copy one direction; chunks leave in order at max(link free, arrival) + size / rate,
        and arrive one-way delay later."""
        loop = asyncio.get_running_loop()
        one_way_s = self.shape.added_rtt_s / 2
        rate = self.shape.bandwidth_bit_s
        shaped = one_way_s > 0 or rate is not None
        queue: asyncio.Queue = asyncio.Queue()
        link_free = 0.0

        async def deliver() -> None:
            while (item := await queue.get()) is not None:
                due, data = item
                if (wait := due - loop.time()) > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
            writer.close()

        sender = asyncio.create_task(deliver()) if shaped else None
        try:
            while data := await reader.read(CHUNK_BYTES):
                count(len(data))
                if not shaped:
                    writer.write(data)
                    await writer.drain()
                    continue
                start = max(loop.time(), link_free)
                link_free = start + (8 * len(data) / rate if rate else 0.0)
                queue.put_nowait((link_free + one_way_s, data))
        finally:
            if sender:
                queue.put_nowait(None)
                await sender
            else:
                writer.close()
