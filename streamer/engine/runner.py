"""Run an export: parts → bounded channels → one sink, under one task group.

Unordered mode: every part task sends its batches into one shared channel of
``queue_batches``.  Ordered mode: each part has its own channel of
``prefetch_batches`` and the sink drains them in part order, so later parts
download ahead only until their channel is full.  Either way the only
buffers are bounded channels and aiohttp's per-socket buffer, so a slow sink
stalls ``send`` → stalls reading → aiohttp pauses the transport → TCP flow
control stops the server: memory stays flat whatever the export size.

Every task lives in the run's task group; an error anywhere cancels the rest,
closes every response and the session, and re-raises the first real error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import aiohttp
import anyio
import anyio.to_thread
from anyio.abc import ObjectReceiveStream, ObjectSendStream, TaskGroup

from streamer.decoding.badlines import BadLines
from streamer.engine.config import StreamConfig
from streamer.engine.download import PartDownload
from streamer.engine.stats import RunStats
from streamer.errors import DecodeError, RecordsRefusedError, StreamerError
from streamer.http.session import open_session
from streamer.providers.base import BookmarkKeeper, IncrementalSource, Source
from streamer.records import Batch, Checkpoint, Part, Record
from streamer.sinks.base import Sink, as_transactional

log = logging.getLogger("streamer.engine")

CheckpointHook = Callable[[Checkpoint], Awaitable[None] | None]
ProgressHook = Callable[[RunStats], None]


async def run_export(
    source: Source,
    sink: Sink,
    *,
    config: StreamConfig | None = None,
    session: aiohttp.ClientSession | None = None,
    checkpoints: Mapping[str, Checkpoint] | None = None,
    on_checkpoint: CheckpointHook | None = None,
    stats: RunStats | None = None,
    on_progress: ProgressHook | None = None,
    progress_interval: float = 1.0,
) -> RunStats:
    """Stream every part of ``source`` into ``sink``; return the run's counters.

    ``on_progress(stats)`` is called every ``progress_interval`` seconds and
    once at the end (metrics, heartbeats); an exception it raises is logged,
    never fatal: a broken metrics hook must not fail an export.

    ``checkpoints`` (by part key) resume parts where an earlier run stopped;
    finished parts are skipped.  ``on_checkpoint`` is called after each batch
    the sink accepted, with the position it reached.

    When resuming (``checkpoints`` is not ``None``, even if empty) into a
    sink that declares ``capabilities.commits_checkpoints`` (a
    :class:`~streamer.sinks.base.TransactionalSink`), the checkpoints it
    committed with its data replace ``checkpoints``: they are exactly what it
    holds.  Whether to resume at all is decided by :mod:`streamer.assembly`.
    """
    config = config or StreamConfig()
    stats = stats or RunStats()
    run = _Run(source, sink, config, stats, dict(checkpoints or {}), on_checkpoint)
    async with contextlib.AsyncExitStack() as stack:
        if session is None:
            session = await stack.enter_async_context(open_session(config.http))
        await sink.open()
        error: BaseException | None = None
        try:
            if checkpoints is not None:
                committed = await _committed_checkpoints(sink)
                if committed is not None:
                    run.checkpoints = dict(committed)
            if run.bookmarks is not None:
                await run.bookmarks.load(sink, run.checkpoints)
            await _execute_reporting(run, session, on_progress, progress_interval)
            for batch in run.bookmarks.leftovers() if run.bookmarks is not None else ():
                stats.part(batch.part.key, batch.part.describe(), 0).done = True
                await run._deliver(batch)  # windows whose export had no file to carry the bookmark
        except BaseException as exc:
            error = _first_error(exc)
            if error is exc:
                raise
            raise error from error.__cause__
        finally:
            stats.finished = time.monotonic()
            stats.skipped_lines = run.bad_lines.skipped
            with anyio.CancelScope(shield=True):
                try:
                    await run.flush_dead_letters()  # what was skipped so far, even in a failed run
                except StreamerError:
                    if error is None:
                        raise  # else the run's own error is the one to report
                finally:
                    await sink.close(error)
            if on_progress is not None:
                _report(on_progress, stats)
    return stats


MAX_LISTED_PARTS = 10_000
"""Parts listed ahead of the downloads (a Part is a few hundred bytes: a bound, not a budget)."""


@dataclasses.dataclass(eq=False)
class _Run:
    """One run's collaborators, and what its tasks share: the checkpoints, bad lines and bookmarks."""

    source: Source
    sink: Sink
    config: StreamConfig
    stats: RunStats
    checkpoints: dict[str, Checkpoint]
    on_checkpoint: CheckpointHook | None
    bad_lines: BadLines = dataclasses.field(init=False)
    bookmarks: BookmarkKeeper | None = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.bad_lines = BadLines(self.config.bad_lines, self.config.dead_letter)
        self.bookmarks = self.source.bookmarks if isinstance(self.source, IncrementalSource) else None

    async def execute(self, session: aiohttp.ClientSession) -> None:
        async with anyio.create_task_group() as tg:
            if self.config.ordered:
                order_send, order_recv = anyio.create_memory_object_stream[
                    ObjectReceiveStream[Batch]
                ](self.config.concurrency)
                tg.start_soon(self._produce_ordered, session, order_send)
                await self._consume_ordered(order_recv)
            else:
                send, recv = anyio.create_memory_object_stream[Batch](self.config.queue_batches)
                tg.start_soon(self._produce_unordered, session, send)
                await self._consume(recv)

    # --------------------------------------------------------------- producing

    async def _parts(self, session: aiohttp.ClientSession) -> AsyncIterator[tuple[Part, Checkpoint | None]]:
        self.stats.discovering = True  # no run total until the source has named every part
        async with contextlib.aclosing(self.source.parts(session)) as parts:
            async for part in parts:
                start = self.checkpoints.get(part.info.key)
                if start is not None and start.done:
                    log.info("%s: already delivered in an earlier run", part.info.describe())
                    self.stats.part(part.info.key, part.info.describe(), part.size).done = True
                    continue
                yield part, start
        self.stats.discovering = False

    def _list_parts(
        self, session: aiohttp.ClientSession, tg: TaskGroup
    ) -> ObjectReceiveStream[tuple[Part, Checkpoint | None]]:
        """The parts, listed ahead of the downloads by a task of their own.

        The source is drained as fast as it names parts (up to
        ``MAX_LISTED_PARTS`` ahead), each registered in the stats with its
        announced size: the run knows all its parts — and its total — while
        the first ones download, and a provider's polling never waits for a
        free download slot.
        """
        send, recv = anyio.create_memory_object_stream[tuple[Part, Checkpoint | None]](MAX_LISTED_PARTS)

        async def lister() -> None:
            async with send:
                async for part, start in self._parts(session):
                    self.stats.part(part.info.key, part.info.describe(), part.size, part.records)
                    await send.send((part, start))

        tg.start_soon(lister)
        return recv

    async def _produce_unordered(
        self, session: aiohttp.ClientSession, send: ObjectSendStream[Batch]
    ) -> None:
        async def shared() -> ObjectSendStream[Batch]:
            return send.clone()

        async with send:
            await self._start_downloads(session, shared)

    async def _produce_ordered(
        self,
        session: aiohttp.ClientSession,
        order: ObjectSendStream[ObjectReceiveStream[Batch]],
    ) -> None:
        async def own_queue() -> ObjectSendStream[Batch]:
            # the consumer drains the queues in the order they are sent here: the parts' order
            send, recv = anyio.create_memory_object_stream[Batch](self.config.prefetch_batches)
            await order.send(recv)
            return send

        async with order:
            await self._start_downloads(session, own_queue)

    async def _start_downloads(
        self,
        session: aiohttp.ClientSession,
        stream_for_part: Callable[[], Awaitable[ObjectSendStream[Batch]]],
    ) -> None:
        """One download per listed part, at most ``concurrency`` at once, each into the stream it is given.

        Ordered and unordered runs differ only in that stream: a clone of the
        one shared channel, or a queue of the part's own.
        """
        limiter = anyio.Semaphore(self.config.concurrency)
        async with anyio.create_task_group() as tg:
            async with self._list_parts(session, tg) as parts:
                async for part, start in parts:
                    await limiter.acquire()
                    tg.start_soon(self._download, session, part, start, await stream_for_part(), limiter)

    async def _download(
        self,
        session: aiohttp.ClientSession,
        part: Part,
        start: Checkpoint | None,
        send: ObjectSendStream[Batch],
        limiter: anyio.Semaphore,
    ) -> None:
        try:
            async with send:
                download = PartDownload(
                    part, session, self.config, self.bad_lines, self.stats, send.send, start
                )
                await download.run()
        finally:
            limiter.release()

    # --------------------------------------------------------------- consuming

    async def _consume(self, recv: ObjectReceiveStream[Batch]) -> None:
        async with recv:
            async for batch in recv:
                await self._deliver(batch)

    async def _consume_ordered(self, order: ObjectReceiveStream[ObjectReceiveStream[Batch]]) -> None:
        async with order:
            async for part_batches in order:
                await self._consume(part_batches)

    async def flush_dead_letters(self) -> None:
        """Dead letters on disk (fsynced) before the checkpoint that skips their lines."""
        if self.bad_lines.pending:
            await anyio.to_thread.run_sync(self.bad_lines.flush)

    def _drop_refused(self, batch: Batch, refused: list[tuple[Record, DecodeError]]) -> None:
        """The bad-line policy for records a sink refused: ``fail`` raises the first, with its place;
        ``skip`` dead-letters them and the batch is written again without them."""
        for _, error in refused:
            self.bad_lines.handle(error)
        dropped = {id(record) for record, _ in refused}
        batch.records = [r for r in batch.records if id(r) not in dropped]  # keeps its bookmarks

    async def _deliver(self, batch: Batch) -> None:
        if self.bookmarks is not None:
            self.bookmarks.stamp(batch)  # may drop an overlap's repeats
        while True:
            count = len(batch.records)  # before the sink: a consumer may empty the list as it goes
            await self.flush_dead_letters()
            try:
                await self.sink.write(batch)
                break
            except RecordsRefusedError as refused:  # valid records the backend cannot store
                self._drop_refused(batch, refused.refused)
            except DecodeError as error:  # a record the sink had to decode (typed tables: 1e400) and could not
                record = _record_at(batch, error)
                if record is None:
                    raise
                self._drop_refused(batch, [(record, error)])
        if batch.bookmarks:
            self.bookmarks.committed(batch)  # type: ignore[union-attr]
        stats = self.stats
        stats.batches += 1
        stats.records += count
        stats.parts[batch.part.key].records += count
        if self.on_checkpoint is not None:
            result = self.on_checkpoint(batch.checkpoint)
            if result is not None:
                await result


async def _execute_reporting(
    run: _Run, session: aiohttp.ClientSession, on_progress: ProgressHook | None, interval: float
) -> None:
    if on_progress is None:
        await run.execute(session)
        return

    async def tick() -> None:
        while True:
            await anyio.sleep(interval)
            _report(on_progress, run.stats)

    async with anyio.create_task_group() as tg:
        tg.start_soon(tick)
        await run.execute(session)
        tg.cancel_scope.cancel()


def _report(on_progress: ProgressHook, stats: RunStats) -> None:
    try:
        on_progress(stats)
    except Exception:
        log.exception("on_progress hook failed (the export goes on)")


async def _committed_checkpoints(sink: Sink) -> Mapping[str, Checkpoint] | None:
    """The checkpoints a transactional sink stored with its data (``None`` for other sinks)."""
    transactional = as_transactional(sink)
    return None if transactional is None else await transactional.load_checkpoints()


def _first_error(exc: BaseException) -> BaseException:
    """The error that caused the run to fail, out of anyio's exception groups."""
    while isinstance(exc, BaseExceptionGroup):
        real = [e for e in exc.exceptions if not isinstance(e, anyio.get_cancelled_exc_class())]
        exc = (real or list(exc.exceptions))[0]
    return exc


def _record_at(batch: Batch, error: DecodeError) -> Record | None:
    """The record of ``batch`` an error from its sink points at (by byte offset), if any."""
    return next((r for r in batch.records if r.offset == error.offset and r.line == error.line), None)
