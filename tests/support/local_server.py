"""An aiohttp app served on 127.0.0.1 for the length of a test: the one way the test servers start and stop."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web


@contextlib.asynccontextmanager
async def serve_locally(app: web.Application, *, shutdown_timeout: float) -> AsyncIterator[str]:
    """Serves ``app`` on a free port of 127.0.0.1 for the block; yields its base URL."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
