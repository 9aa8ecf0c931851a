"""A CLI subprocess that never outlives its test.

A test that polls a running CLI and then kills it stops at the first failed
assertion; without this the process keeps running, and its transport is
collected in a later test, which then fails on an unrelated warning.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


@asynccontextmanager
async def reaped(process: asyncio.subprocess.Process) -> AsyncIterator[asyncio.subprocess.Process]:
    """Yield ``process``; on the way out, kill it if it still runs and wait for it."""
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.communicate()
