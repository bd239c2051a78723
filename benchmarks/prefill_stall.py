"""How long does a long prompt stall other sessions' rounds? Chunked prefill against one big call.

A real `configspec serve` (the demo target, 1 thread, CPU 0) serves session A, which sends
rounds back to back (K = 4 draft tokens each; their identity does not matter for the time),
from this process on CPU 1. After a few rounds, session B opens with a long prompt. The server
prefills B in chunks between (and together with) A's rounds; each of A's rounds records the
server's own time for it (`server_s`: arrival to answer). The stall is A's round time while B
prefills minus A's round time before B. One run per chunk size: the default (`auto`: about one
batching window of prefill work, at least 8 tokens), larger chunks, and the whole prompt in one
call (no chunking): a smaller chunk bounds the stall, a larger one prefills B sooner. The
issue's target: a stall of about one batching window.

    python benchmarks/prefill_stall.py [--prompt-tokens 1024] [--window-ms 20] [--chunks auto,32,128,all]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_loop import EDGE_CPU as CLIENT_CPU  # noqa: E402
from real_loop import SERVER_CPU, TARGET, start_serve  # noqa: E402

from configspec.profiles.io import load_profile  # noqa: E402
from configspec.profiles.serving import ServingProfile  # noqa: E402
from configspec.serving.edge import Connection, RemoteVerifier  # noqa: E402
from configspec.serving.relay import LinkShape  # noqa: E402
from configspec.speculative.decoder import DecodeConfig  # noqa: E402


def start_server(tmp: Path, window_ms: float, chunk: int | None) -> tuple[subprocess.Popen, str]:
    port_file = tmp / "port"
    port_file.unlink(missing_ok=True)
    extra = ["--prefill-chunk", str(chunk)] if chunk else []
    return start_serve(port_file, "--model", TARGET, "--max-sessions", "2", "--max-batch", "2",
                       "--batch-window-ms", str(window_ms), "--ctx", "4096",
                       "--stop-after-sessions", "2", "--duration-s", "1800", "--out",
                       str(tmp / "serving.json"), *extra)  # fmt: skip


def run(tmp: Path, window_ms: float, chunk: int | None, prompt_tokens: int, rounds_before: int):
    server, address = start_server(tmp, window_ms, chunk)
    connection = Connection(address, LinkShape())
    hello = connection.hello()
    # the server's own fingerprint: these sessions send token ids, not a draft's proposals
    a, b = (RemoteVerifier(connection, hello, hello.family, hello.tokenizer_fingerprint, 4)
            for _ in range(2))  # fmt: skip
    config = DecodeConfig(k=4, max_new_tokens=256)
    a.start([151644, 872, 198, 9707, 11, 1879], config)
    a.ready()
    samples: list[tuple[float, float, str]] = []  # (time, server_s, phase)
    phase = {"now": "before"}
    token = 198

    def prefill_b() -> None:
        b.start([9707 + i % 500 for i in range(prompt_tokens)], config)
        b.ready()
        phase["now"] = "after"
        phase["b_prefill_s"] = b.opened.prefill_s
        phase["b_chunks"] = b.opened.prefill_chunks

    opener = threading.Thread(target=prefill_b)
    while True:
        sent_in = phase["now"]  # a round sent while B prefills waits for it, whenever it returns
        v = a.verify([token], [100, 101, 102, 103], [None] * 4)
        samples.append((time.perf_counter(), v.server_s, sent_in))
        token = v.token
        if len([s for s in samples if s[2] == "before"]) == rounds_before and not opener.is_alive():
            if phase["now"] == "before":
                phase["now"] = "during"
                opener.start()
        if (
            phase["now"] == "after"
            and len([s for s in samples if s[2] == "after"]) >= rounds_before
        ):
            break
    opener.join()
    a.finish()
    b.finish()
    connection.close()
    server.wait(120)  # it stops by itself after the two sessions
    serving = load_profile(tmp / "serving.json", ServingProfile)
    return samples, phase, serving


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompt-tokens", type=int, default=1024)
    parser.add_argument("--window-ms", type=float, default=20.0)
    parser.add_argument("--rounds-before", type=int, default=8)
    parser.add_argument("--chunks", default="auto,32,128,all",
                        help="prefill chunk sizes: auto (the server's default), N, all (one call)")  # fmt: skip
    args = parser.parse_args()
    os.sched_setaffinity(0, {CLIENT_CPU})
    tmp = Path(tempfile.mkdtemp(prefix="prefill-stall-"))
    print(f"server on CPU {SERVER_CPU} (1 thread), session A's client on CPU {CLIENT_CPU}; "
          f"B's prompt {args.prompt_tokens} tokens; batch window {args.window_ms:g} ms", flush=True)  # fmt: skip
    print(f"\n{'prefill':<22} {'chunk':>6} {'B prefill s':>11} {'A round ms: before':>19} "
          f"{'during (median / max)':>22} {'after':>7} {'worst stall ms':>15}")  # fmt: skip
    sizes = {"auto": None, "all": args.prompt_tokens}
    for name in args.chunks.split(","):
        chunk = sizes[name] if name in sizes else int(name)
        samples, phase, serving = run(tmp, args.window_ms, chunk, args.prompt_tokens,
                                      args.rounds_before)  # fmt: skip
        by = {
            p: [1e3 * s for _, s, ph in samples if ph == p] for p in ("before", "during", "after")
        }
        before = statistics.median(by["before"])
        during = by["during"] or [before]
        label = {None: "chunked (default)", args.prompt_tokens: "one call (no chunks)"}.get(
            chunk, "chunked"
        )
        print(f"{label:<22} {serving.settings.prefill_chunk_tokens:>6} "
              f"{phase['b_prefill_s']:>11.2f} {before:>19.0f} "
              f"{statistics.median(during):>12.0f} / {max(during):<7.0f} "
              f"{statistics.median(by['after']):>7.0f} {max(during) - before:>15.0f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
