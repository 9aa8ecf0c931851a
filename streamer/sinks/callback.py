"""A sink that calls your function with each batch (sync or async), or with its records typed."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread

from streamer.records import Batch
from streamer.typed import Typed, typed_batch

BatchCallback = Callable[[Batch], Awaitable[None] | None] | Callable[[list[Any]], Awaitable[None] | None]


class CallbackSink:
    """Calls ``callback(batch)``; a sync callback runs in a worker thread when
    ``in_thread`` is set, so it may block without freezing the downloads.

    ``typed=True`` (or a Struct) calls it with the batch's records as msgspec
    Structs instead, in file order (:func:`streamer.typed.typed_batch`); a
    record that does not fit fails the run with its place, before the call.
    """

    def __init__(self, callback: BatchCallback, *, in_thread: bool = False, typed: Typed = False) -> None:
        self._callback: Callable[[Any], Any] = callback
        self._is_async = inspect.iscoroutinefunction(callback)
        self._in_thread = in_thread
        self._typed = typed

    async def open(self) -> None:
        return None

    async def write(self, batch: Batch) -> None:
        value: Batch | list[Any] = typed_batch(batch, self._typed) if self._typed else batch
        if self._is_async:
            await self._callback(value)
        elif self._in_thread:
            await anyio.to_thread.run_sync(self._callback, value)
        else:
            result = self._callback(value)
            if inspect.isawaitable(result):
                await result

    async def close(self, error: BaseException | None) -> None:
        return None
