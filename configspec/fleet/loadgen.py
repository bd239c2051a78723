"""The load generator: emulated devices as Locust users, one process, gevent.

    python -m configspec.fleet.loadgen PLAN.json RECORDS.jsonl

`configspec fleet` (configspec/fleet/run.py) writes the plan and starts this process; it is not
meant to be run by hand. Locust (https://locust.io) runs the devices: each device group is a
`User` class with a fixed count, each device a user whose task is one session (device.py);
closed loop: Locust's `wait_time` is the think time between sessions; open loop: a greenlet per
group draws Poisson arrivals into a queue and a free device takes the next one. Every round and
session is reported to Locust's request statistics (type `round` / `session`, name = the group)
and written as one JSON line to RECORDS. gRPC runs under gevent through grpc's own gevent
support (grpc.experimental.gevent). Progress goes to stdout as JSON lines, the last one with
this process's CPU time and Locust's percentiles.

gevent patches the whole process (sockets, threads, time.sleep), so nothing else lives here:
the network emulation (an asyncio relay) stays in the parent process.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> None:
    from gevent import monkey

    monkey.patch_all()
    import grpc.experimental.gevent as grpc_gevent

    grpc_gevent.init_gevent()
    from configspec.fleet.locust_devices import run_plan

    run_plan(argv[0], argv[1])


if __name__ == "__main__":
    main(sys.argv[1:])
