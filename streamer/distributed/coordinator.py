"""The coordinator: create and poll the export once, one Dask task per part, one RunStats.

It iterates the source's parts in this process — a vendor export is
created and polled here, once — and submits each part as it becomes ready,
as :func:`~streamer.distributed.worker.stream_part` of its
:class:`~streamer.distributed.specs.PartSpec`, keyed by the part key.  Parts
the sink already holds whole are skipped before anything is submitted, so a
coordinator killed and rerun submits only what is left, and each of those
parts resumes at the checkpoint its sink committed.  A worker killed
mid-part is Dask's to handle: it reschedules the task (up to
``distributed.scheduler.allowed-failures`` times) and the new attempt
resumes the same way.

Progress: workers publish their parts' counters on the run's topic every
half second; the coordinator folds them into one :class:`RunStats` (per
part, per attempt) for ``on_progress`` and the CLI's progress bar, and
replaces them with the task results when the parts finish.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import anyio
import anyio.to_thread

from streamer.distributed.sources import codec_for
from streamer.distributed.specs import COUNTERS, PART_COUNTERS, ClusterPartError, PartResult, PartSpec, counters
from streamer.distributed.targets import target_for, url_password
from streamer.distributed.worker import progress_topic, stream_part
from streamer.engine.config import StreamConfig
from streamer.engine.runner import ProgressHook
from streamer.engine.runner import _first_error as first_error
from streamer.engine.stats import RunStats
from streamer.errors import ConfigError, StreamerError, describe_exception
from streamer.http.session import open_session
from streamer.providers.base import Source
from streamer.records import Checkpoint, Part
from streamer.sinks.registry import describe

log = logging.getLogger("streamer.distributed")

POLL_INTERVAL = 0.1
"""Seconds between looks at the outstanding tasks (local state: costs nothing)."""


async def run_on_cluster(
    source: Source,
    sink_url: str,
    *,
    client: Any,
    config: StreamConfig | None = None,
    session: aiohttp.ClientSession | None = None,
    on_progress: ProgressHook | None = None,
    progress_interval: float = 1.0,
    stats: RunStats | None = None,
    on_part: Callable[[PartResult], None] | None = None,
    **options: Any,
) -> RunStats:
    """Stream every part of ``source`` into the sink ``sink_url`` on the Dask cluster of ``client``.

    ``client`` is a ``distributed.Client`` (synchronous or ``asynchronous=True``).
    ``sink_url`` is a ``postgresql://`` or ``dir://`` URL that every worker
    can reach; it must carry no password (workers read ``PGPASSWORD`` or
    ``~/.pgpass`` from their own environment).  The run always resumes from
    what the sink committed.  Returns the run's counters, summed over the
    workers; a part that failed raises its worker's error as a
    :class:`~streamer.distributed.specs.ClusterPartError`.  ``on_part(result)``
    sees each part's :class:`~streamer.distributed.specs.PartResult` (which
    worker, resumed from which line, peak RSS) as it lands.
    """
    if config is not None and options:
        raise TypeError("pass either config= or individual options, not both")
    config = config or StreamConfig(**options)
    if url_password(sink_url):
        raise ConfigError(
            f"sink {describe(sink_url)}: its password would travel in every task; drop it from the URL "
            "and give it to the workers as PGPASSWORD (or ~/.pgpass)"
        )
    codec_for(source.name)  # refuse a source that cannot travel before creating any export
    target = target_for(sink_url)
    stats = stats or RunStats()
    board = _Board(stats, on_part)
    run_id = uuid.uuid4().hex[:12]
    committed = await target.committed()
    run = _Submissions(source, sink_url, config, run_id, committed, client, board)
    topic = progress_topic(run_id)
    client.subscribe_topic(topic, board.on_event)
    try:
        async with contextlib.AsyncExitStack() as stack:
            if session is None:
                session = await stack.enter_async_context(open_session(config.http))
            with _first_error_raised():
                async with anyio.create_task_group() as tg:
                    if on_progress is not None:
                        tg.start_soon(_tick, on_progress, stats, progress_interval)
                    tg.start_soon(run.submit_parts, session)
                    await run.collect()
                    tg.cancel_scope.cancel()
        await target.finish()
    except BaseException:
        run.release()
        raise
    finally:
        client.unsubscribe_topic(topic)
        stats.finished = time.monotonic()
        if on_progress is not None:
            _report(on_progress, stats)
    return stats


@dataclass(eq=False)
class _Submissions:
    """The run's tasks: submitted as the source yields parts, collected as they finish."""

    source: Source
    sink_url: str
    config: StreamConfig
    run_id: str
    committed: Mapping[str, Checkpoint]
    client: Any
    board: _Board
    tasks: dict[str, Any] = field(default_factory=dict, init=False)
    submitted_all: anyio.Event = field(default_factory=anyio.Event, init=False)

    def __post_init__(self) -> None:
        self.calls = _Calls(self.client)

    async def submit_parts(self, session: aiohttp.ClientSession) -> None:
        """One task per part not yet delivered, as soon as the source yields it."""
        async for part in self.source.parts(session):
            spec = _spec(self.source, part, self.sink_url, self.config, self.run_id)
            start = self.committed.get(spec.key)
            done = start is not None and start.done
            self.board.seen(part, done=done)
            if done:
                log.info("%s: already delivered in an earlier run", part.info.describe())
                continue
            self.tasks[spec.key] = self.client.submit(stream_part, spec, key=spec.task_key, pure=False)
        self.submitted_all.set()

    async def collect(self) -> None:
        """Take each finished task's result as it lands; raise the first part's failure."""
        while True:
            for key, future in list(self.tasks.items()):
                if not future.done():
                    continue
                if future.status != "finished":
                    raise await _failure(key, future, self.calls)
                self.board.finish(await self.calls.call(future.result))
                self.tasks.pop(key)
            if self.submitted_all.is_set() and not self.tasks:
                return
            await anyio.sleep(POLL_INTERVAL)

    def release(self) -> None:
        """Release, not cancel: a part already running finishes and commits (exactly once
        either way), queued ones are dropped, and a rerun may ask for the same keys at once."""
        for future in self.tasks.values():
            future.release()


@contextlib.contextmanager
def _first_error_raised() -> Iterator[None]:
    """The part's own error (one line at the CLI), not anyio's exception group around it."""
    try:
        yield
    except BaseExceptionGroup as group:
        error = first_error(group)
        raise error from error.__cause__


def _spec(source: Source, part: Part, sink_url: str, config: StreamConfig, run_id: str) -> PartSpec:
    url, provider_config = codec_for(source.name).describe(source, part)
    return PartSpec(
        info=part.info,
        size=part.size,
        format=part.format,
        compression=part.compression,
        sink_url=sink_url,
        config=config,
        run_id=run_id,
        url=url,
        provider_config=provider_config,
    )


class _Calls:
    """Blocking client calls off the event loop (a synchronous client) or awaited (an asynchronous one)."""

    def __init__(self, client: Any) -> None:
        self.asynchronous = bool(getattr(client, "asynchronous", False))
        self.client = client

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self.asynchronous:
            return await fn(*args)
        return await anyio.to_thread.run_sync(fn, *args)


async def _failure(key: str, future: Any, calls: _Calls) -> StreamerError:
    if future.status == "cancelled":
        return ClusterPartError(f"part {key}: its task was cancelled on the cluster")
    exc = await calls.call(future.exception)
    if isinstance(exc, StreamerError):
        return exc
    from distributed import KilledWorker

    if isinstance(exc, KilledWorker):
        return ClusterPartError(
            f"part {key}: every worker that ran it died (distributed.scheduler.allowed-failures); "
            "the sink keeps what was committed: rerun to resume"
        )
    return ClusterPartError(f"part {key}: {describe_exception(exc)}")


async def _tick(on_progress: ProgressHook, stats: RunStats, interval: float) -> None:
    while True:
        await anyio.sleep(interval)
        _report(on_progress, stats)


def _report(on_progress: ProgressHook, stats: RunStats) -> None:
    try:
        on_progress(stats)
    except Exception:
        log.exception("on_progress hook failed (the export goes on)")


class _Board:
    """The run's counters, from every attempt of every part.

    Events arrive on the client's thread; a lock keeps the sums whole.  An
    attempt's last event before its worker died is what it counts for
    (what it committed after that is redone by the next attempt, and is in
    the sink once): the sink, not this board, is the record of truth.
    """

    def __init__(self, stats: RunStats, on_part: Callable[[PartResult], None] | None = None) -> None:
        self.stats = stats
        self.on_part = on_part
        self._attempts: dict[str, dict[str, dict[str, int]]] = {}
        self._final: set[str] = set()
        self._skipped: dict[str, int] = {}
        self._lock = threading.Lock()

    def seen(self, part: Part, *, done: bool) -> None:
        with self._lock:
            self.stats.part(part.info.key, part.info.describe(), part.size).done = done

    def on_event(self, event: tuple[float, dict[str, Any]]) -> None:
        msg = event[1]
        with self._lock:
            attempt = msg["attempt"]
            if attempt in self._final:
                return
            attempts = self._attempts.setdefault(msg["key"], {})
            if attempt not in attempts and attempts:
                log.warning("%s: restarted on worker %s (an earlier attempt stopped)", msg["key"], msg["worker"])
            attempts[attempt] = {name: int(msg[name]) for name in COUNTERS}
            self._sum()

    def finish(self, result: PartResult) -> None:
        if result.resumed_from_line and not result.already_done:
            log.info("%s: resumed after line %d on %s", result.key, result.resumed_from_line, result.worker)
        with self._lock:
            self._final.add(result.attempt)
            self._attempts.setdefault(result.key, {})[result.attempt] = counters(result)
            self._skipped[result.key] = result.skipped_lines
            part = self.stats.parts.get(result.key)
            if part is not None:
                part.done = True
            self._sum()
        if self.on_part is not None:
            self.on_part(result)

    def _sum(self) -> None:
        stats = self.stats
        totals = dict.fromkeys(COUNTERS, 0)
        for key, attempts in self._attempts.items():
            part = stats.parts.get(key)
            part_totals = dict.fromkeys(COUNTERS, 0)
            for attempt_counters in attempts.values():
                for name, value in attempt_counters.items():
                    part_totals[name] += value
            for name in COUNTERS:
                totals[name] += part_totals[name]
            if part is not None:
                for name in PART_COUNTERS:
                    setattr(part, name, part_totals[name])
        for name, value in totals.items():
            setattr(stats, name, value)
        stats.skipped_lines = sum(self._skipped.values())
