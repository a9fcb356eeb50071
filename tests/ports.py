"""TCP ports for the servers the tests start, safe to use from parallel pytest workers.

A test picks a port and a server binds it a moment later. Two things could take the
port in between: another pytest worker picking the same one, or an outgoing
connection that the kernel gives it as its local port. So ports come from below the
kernel's ephemeral range (32768-60999 on Linux), where no outgoing connection lands,
each pytest-xdist worker from its own slice of that range, in a shuffled order that
repeats no port before the slice is used up.
"""

from __future__ import annotations

import os
import random
import socket
from collections.abc import Iterator

# Below the ephemeral range, above the ports services usually listen on.
FIRST_PORT, LAST_PORT = 20000, 32000


def _slice() -> range:
    """This process's ports: the whole range, or its worker's share under xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    index = int(worker.removeprefix("gw")) if worker.startswith("gw") else 0
    size = (LAST_PORT - FIRST_PORT) // max(count, 1)
    start = FIRST_PORT + index * size
    return range(start, start + size)


def _candidates() -> Iterator[int]:
    ports = list(_slice())
    while True:
        random.shuffle(ports)
        yield from ports


_next_candidate = _candidates()


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now and that no other worker of
    this run will hand out."""
    for _ in range(1000):
        port = next(_next_candidate)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use (another run on this machine, or still closing)
            return port
    raise RuntimeError("no free port in this worker's range")
