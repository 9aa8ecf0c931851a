"""The library's front door: run an export into a sink, or iterate its records.

Three shapes for three kinds of callers:

* ``await streamer.run(source, sink)`` for pipelines with a sink;
* ``async for record in streamer.stream(source)`` (or :func:`stream_urls`) for
  streaming consumers — use ``async with`` around it for deterministic
  cleanup when you may stop early;
* ``streamer.run_sync(source, sink)`` for workers that are not async.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping
from types import TracebackType
from typing import Any

import aiohttp
import anyio

from streamer.engine.config import StreamConfig
from streamer.engine.runner import CheckpointHook, ProgressHook, run_export
from streamer.engine.stats import RunStats
from streamer.incremental.bookmarks import IncrementalSource
from streamer.providers.base import Source
from streamer.providers.urls import UrlSource
from streamer.records import Batch, Checkpoint, Compression, Format, Record
from streamer.sinks.base import Sink
from streamer.state import StateStore, begin_run, open_state, tracked_run
from streamer.workers import run_until_signalled


def _config(config: StreamConfig | None, options: dict[str, Any]) -> StreamConfig:
    if config is not None and options:
        raise TypeError("pass either config= or individual options, not both")
    return config or StreamConfig(**options)


async def run(
    source: Source,
    sink: Sink,
    *,
    config: StreamConfig | None = None,
    session: aiohttp.ClientSession | None = None,
    checkpoints: Mapping[str, Checkpoint] | None = None,
    on_checkpoint: CheckpointHook | None = None,
    state: StateStore | str | os.PathLike[str] | None = None,
    resume: bool | None = None,
    on_progress: ProgressHook | None = None,
    progress_interval: float = 1.0,
    stop_on: Iterable[signal.Signals | int] = (),
    **options: Any,
) -> RunStats:
    """Stream every record of ``source`` into ``sink``; return the run's counters.

    ``state`` (a path, or any :class:`~streamer.state.StateStore`) records
    every acknowledged batch; ``resume`` (default: ``True`` when ``state`` is
    given) continues from it — finished parts are skipped, the others restart
    at their last acknowledged line, and a file sink is rolled back to match.
    Without ``state``, ``resume=True`` resumes from what a sink that commits
    its own checkpoints (SQLite, DuckDB, PostgreSQL, ``dir``) holds.

    ``on_progress(stats)`` is called every ``progress_interval`` seconds (see
    :mod:`streamer.metrics`).  ``stop_on=(signal.SIGTERM,)`` makes those
    signals stop the run gracefully — the current batch is finished, state is
    saved, and ``run`` returns with ``stats.stopped_by`` set (see
    :mod:`streamer.workers`).
    """
    if state is None and resume and hasattr(sink, "load_checkpoints"):
        checkpoints, resume = dict(checkpoints or {}), None  # the sink's own checkpoints win
    store = _state_of(state, resume, checkpoints)
    if isinstance(source, IncrementalSource) and source.bookmarks is not None:
        source.bookmarks.attach_state(store)  # bookmarks saved with the checkpoints too
    config = _config(config, options)
    stats = RunStats()
    progress = {"on_progress": on_progress, "progress_interval": progress_interval, "stats": stats}

    async def go(sink: Sink) -> RunStats:
        if store is None:
            return await run_export(
                source,
                sink,
                config=config,
                session=session,
                checkpoints=checkpoints,
                on_checkpoint=on_checkpoint,
                **progress,  # type: ignore[arg-type]
            )
        async with tracked_run(store, sink, resume=resume is not False, on_checkpoint=on_checkpoint) as hooks:
            return await run_export(
                source,
                sink,
                config=config,
                session=session,
                checkpoints=hooks.checkpoints,
                on_checkpoint=hooks.on_checkpoint,
                **progress,  # type: ignore[arg-type]
            )

    signals = tuple(stop_on)
    if not signals:
        return await go(sink)
    return await run_until_signalled(signals, go, sink, stats)


def _state_of(
    state: StateStore | str | os.PathLike[str] | None,
    resume: bool | None,
    checkpoints: Mapping[str, Checkpoint] | None,
) -> StateStore | None:
    if state is None:
        if resume:
            raise TypeError("resume=True needs state= (a path or a StateStore) to resume from")
        return None
    if checkpoints is not None:
        raise TypeError("pass either state= or checkpoints=, not both")
    return open_state(state)


def run_sync(source: Source, sink: Sink, **kwargs: Any) -> RunStats:
    """:func:`run` for code that is not async: runs its own event loop and
    returns when the export is done (or raises its error).

    Safe from any thread that has no running event loop (each call gets its
    own loop); ``stop_on=`` signals need the main thread.
    """
    return asyncio.run(run(source, sink, **kwargs))


class RecordStream:
    """Async iterator of records (and of batches via :meth:`batches`).

    The engine runs in a background task that is started by the first
    ``__anext__`` and torn down — responses, session and tasks — by
    :meth:`aclose`, by leaving ``async with``, or when the iteration ends.
    """

    def __init__(
        self,
        source: Source,
        config: StreamConfig,
        session: aiohttp.ClientSession | None,
        state: StateStore | None = None,
        resume: bool = True,
    ) -> None:
        self.source = source
        self.config = config
        self.stats = RunStats()
        self.state = state
        self._resume = resume
        self._session = session
        self._records: AsyncIterator[Record] | None = None
        self._batch_iterators: list[AsyncGenerator[Batch, None]] = []

    # -- async iteration over records

    def __aiter__(self) -> AsyncIterator[Record]:
        # ``async for`` steps the generator itself: no wrapper coroutine per record
        return self._record_iterator()

    async def __anext__(self) -> Record:
        return await self._record_iterator().__anext__()

    def _record_iterator(self) -> AsyncIterator[Record]:
        if self._records is None:
            self._records = self._iter_records()
        return self._records

    async def _iter_records(self) -> AsyncIterator[Record]:
        async for batch in self.batches():
            # Hand each record over instead of keeping the batch's list of them:
            # a record the loop body drops is freed at once (decoded data
            # included), so a plain ``async for`` never accumulates garbage.
            records = batch.records
            records.reverse()
            while records:
                yield records.pop()

    def batches(self) -> AsyncIterator[Batch]:
        """The batches themselves (with checkpoints), for consumers that work per batch.

        Closed with the stream (``async with`` / :meth:`aclose`) even when the
        loop over it was left early, so the engine stops and the state is
        saved right there, not whenever the garbage collector gets to it.
        """
        iterator = self._tracked_batches()
        self._batch_iterators.append(iterator)
        return iterator

    async def _tracked_batches(self) -> AsyncGenerator[Batch, None]:
        """See :meth:`batches`.

        With a state store, a batch is acknowledged when the consumer asks for
        the next one (or the next record after its last): what the loop body
        finished is never re-delivered, what it was busy with is (at-least-once).
        """
        if self.state is None:
            async for batch in self._batches(None):
                yield batch
            return
        store = self.state
        checkpoints = begin_run(store, None, resume=self._resume)
        error: BaseException | None = None
        try:
            async for batch in self._batches(checkpoints):
                if batch.records:
                    yield batch
                await store.acknowledge(batch.checkpoint)
        except BaseException as exc:
            error = exc  # includes GeneratorExit: the consumer stopped early
            raise
        finally:
            with anyio.CancelScope(shield=True):
                await store.close(error)

    async def _batches(self, checkpoints: dict[str, Checkpoint] | None) -> AsyncIterator[Batch]:
        send, recv = anyio.create_memory_object_stream[Batch](1)

        class _ChannelSink:
            async def open(self) -> None:
                return None

            async def write(self, batch: Batch) -> None:
                await send.send(batch)

            async def close(self, error: BaseException | None) -> None:
                send.close()

        task = asyncio.ensure_future(
            run_export(
                self.source,
                _ChannelSink(),
                config=self.config,
                session=self._session,
                stats=self.stats,
                checkpoints=checkpoints,
            )
        )
        try:
            async with recv:
                async for batch in recv:
                    if batch.records or checkpoints is not None:
                        yield batch
            await task
        finally:
            if not task.done():
                task.cancel()
            with anyio.CancelScope(shield=True):
                await asyncio.gather(task, return_exceptions=True)

    # -- cleanup

    async def aclose(self) -> None:
        if self._records is not None:
            await self._records.aclose()  # type: ignore[attr-defined]
        iterators, self._batch_iterators = self._batch_iterators, []
        for iterator in iterators:
            await iterator.aclose()

    async def __aenter__(self) -> RecordStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def stream(
    source: Source,
    *,
    config: StreamConfig | None = None,
    session: aiohttp.ClientSession | None = None,
    state: StateStore | str | os.PathLike[str] | None = None,
    resume: bool | None = None,
    **options: Any,
) -> RecordStream:
    """``async for record in stream(source)``: every record, as it arrives.

    With ``state``, progress is saved as batches are consumed and a later
    ``stream(..., state=same)`` continues after the last consumed batch.
    """
    store = _state_of(state, resume, None)
    return RecordStream(source, _config(config, options), session, store, resume is not False)


def stream_urls(
    urls: Iterable[str],
    *,
    format: Format = "jsonl",
    compression: Compression = "auto",
    config: StreamConfig | None = None,
    session: aiohttp.ClientSession | None = None,
    **options: Any,
) -> RecordStream:
    """``async for record in stream_urls([...])``: records of plain URLs."""
    return stream(
        UrlSource(urls, format=format, compression=compression),
        config=config,
        session=session,
        **options,
    )
