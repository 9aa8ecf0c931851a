"""A sink that calls your function with each batch (sync or async)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

import anyio.to_thread

from streamer.records import Batch

BatchCallback = Callable[[Batch], Awaitable[None] | None]


class CallbackSink:
    """Calls ``callback(batch)``; a sync callback runs in a worker thread when
    ``in_thread`` is set, so it may block without freezing the downloads."""

    def __init__(self, callback: BatchCallback, *, in_thread: bool = False) -> None:
        self._callback = callback
        self._is_async = inspect.iscoroutinefunction(callback)
        self._in_thread = in_thread

    async def open(self) -> None:
        return None

    async def write(self, batch: Batch) -> None:
        if self._is_async:
            await self._callback(batch)  # type: ignore[misc]
        elif self._in_thread:
            await anyio.to_thread.run_sync(self._callback, batch)
        else:
            result = self._callback(batch)
            if inspect.isawaitable(result):
                await result

    async def close(self, error: BaseException | None) -> None:
        return None
