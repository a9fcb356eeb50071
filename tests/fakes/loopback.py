"""An aiohttp application served on 127.0.0.1 at a port the kernel picks: what every
fake venue server starts and stops the same way."""

from __future__ import annotations

from aiohttp import web


class LoopbackServer:
    """One application on loopback; its URL is known once it serves."""

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self._port = 0

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (port 0 before :meth:`serve`)."""
        return f"http://127.0.0.1:{self._port}"

    async def serve(self, app: web.Application) -> None:
        """Start serving ``app`` (no access log)."""
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = self._runner.addresses[0][1]

    async def close(self) -> None:
        """Stop serving (open connections are closed)."""
        if self._runner is not None:
            await self._runner.cleanup()
