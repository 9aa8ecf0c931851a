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
import functools
import os
import signal
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping
from types import TracebackType
from typing import Any

import aiohttp
import anyio
from anyio.abc import ObjectSendStream

from streamer.assembly import RunPlan, plan_resume
from streamer.engine.config import StreamConfig
from streamer.engine.runner import CheckpointHook, ProgressHook
from streamer.engine.stats import RunStats
from streamer.providers.base import Source
from streamer.providers.urls import UrlSource
from streamer.records import Batch, Checkpoint, Compression, Format, Record
from streamer.sinks.base import Sink
from streamer.state import StateStore, begin_run
from streamer.typed import Typed, iter_typed_batch


async def run(
    source: Source,
    sink: Sink | str,
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
    executor: Any = None,
    **options: Any,
) -> RunStats:
    """Stream every record of ``source`` into ``sink``; return the run's counters.

    ``sink`` is a :class:`~streamer.sinks.base.Sink` or a sink URL such as
    ``"sqlite:///out.db"`` (see :mod:`streamer.sinks.registry`).

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

    ``executor=`` a ``distributed.Client`` (extra ``streamer[dask]``) runs
    the parts on its Dask cluster: ``sink`` must then be a ``postgresql://``
    or ``dir://`` URL that every worker can open, and the sink's committed
    checkpoints are the state (see docs/dask.md).
    """
    plan = RunPlan.of(
        sink,
        config,
        options,
        session=session,
        checkpoints=checkpoints,
        on_checkpoint=on_checkpoint,
        state=state,
        resume=resume,
        on_progress=on_progress,
        progress_interval=progress_interval,
        stop_on=stop_on,
        executor=executor,
    )
    return await plan.run(source)


def run_sync(source: Source, sink: Sink | str, **kwargs: Any) -> RunStats:
    """:func:`run` for code that is not async: runs its own event loop and
    returns when the export is done (or raises its error).

    Safe from any thread that has no running event loop (each call gets its
    own loop); ``stop_on=`` signals need the main thread.
    """
    return anyio.run(functools.partial(run, source, sink, **kwargs), backend="asyncio")  # aiohttp needs asyncio


class _ChannelSink:
    """Hands each batch to the consumer of a :class:`RecordStream` (one in flight)."""

    def __init__(self, send: ObjectSendStream[Batch] | None) -> None:
        self._send = send

    async def open(self) -> None:
        return None

    async def write(self, batch: Batch) -> None:
        assert self._send is not None
        await self._send.send(batch)

    async def close(self, error: BaseException | None) -> None:
        if self._send is not None:
            self._send.close()


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
        typed: Typed = False,
    ) -> None:
        self.source = source
        self.typed = typed
        """Truthy: iteration yields msgspec Structs (:mod:`streamer.typed`), not records."""
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
            if self.typed:  # each Struct decoded from its raw line as it is reached
                for item in iter_typed_batch(batch, self.typed):
                    yield item  # type: ignore[misc]
                continue
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
        checkpoints = begin_run(store, None, resume=self._resume)  # acknowledged as consumed, not as sent
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
        plan = RunPlan(_ChannelSink(send), config=self.config, session=self._session,
                       checkpoints=checkpoints, stats=self.stats)
        # A detached task, not a task group: this generator may be abandoned and
        # finalized from another task, and an anyio cancel scope cannot be left
        # from a task other than the one that entered it.
        task = asyncio.get_running_loop().create_task(plan.run(self.source))
        try:
            async with recv:  # the sink closes the channel when the run ends, however it ends
                async for batch in recv:
                    if batch.records or checkpoints is not None:
                        yield batch
            await task
        finally:
            if not task.done():
                task.cancel()
            with anyio.CancelScope(shield=True):
                await asyncio.wait([task])
            if not task.cancelled():
                task.exception()  # retrieved: never "exception was never retrieved"

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
    typed: Typed = False,
    **options: Any,
) -> RecordStream:
    """``async for record in stream(source)``: every record, as it arrives.

    With ``state``, progress is saved as batches are consumed and a later
    ``stream(..., state=same)`` continues after the last consumed batch.
    ``typed=True`` yields each record as its entity's msgspec Struct instead
    (``typed=OrderItem``: that Struct for every part), decoded per batch from
    the raw lines; see docs/typed-records.md.
    """
    if config is not None and options:
        raise TypeError("pass either config= or individual options, not both")
    plan = plan_resume(_ChannelSink(None), state=state, resume=resume)
    return RecordStream(source, config or StreamConfig(**options), session, plan.store, plan.from_store, typed)


def stream_urls(
    urls: Iterable[str],
    *,
    format: Format = "jsonl",
    compression: Compression = "auto",
    config: StreamConfig | None = None,
    session: aiohttp.ClientSession | None = None,
    typed: Typed = False,
    **options: Any,
) -> RecordStream:
    """``async for record in stream_urls([...])``: records of plain URLs (``typed=OrderItem``: as Structs)."""
    return stream(
        UrlSource(urls, format=format, compression=compression),
        config=config,
        session=session,
        typed=typed,
        **options,
    )
