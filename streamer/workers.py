"""Graceful stop for worker processes: a signal ends the run after the current batch.

``streamer.run(..., stop_on=(signal.SIGTERM,))`` (or ``run_sync``) installs
handlers for those signals on the run's event loop.  On the first one:

* the batch the sink is writing is finished — sink writes are shielded from
  the cancellation — and its checkpoint is recorded (state store and/or the
  sink's own checkpoint table);
* everything else is cancelled: downloads stop, every response and the
  session are closed, the sink and the state store are closed (state saved);
* ``run`` *returns* the stats with ``stats.stopped_by = "SIGTERM"``, so the
  worker can exit 0 and the next run resumes where this one stopped.

Signal handlers can only be installed from the main thread; a worker thread
should stop its run by cancelling it instead.

:class:`PartitionedSource` splits one export's parts over worker processes
(part index modulo the worker count); to scale out across processes and
machines with one coordinator, see :mod:`streamer.distributed` (Dask).
"""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import aiohttp
import anyio

from streamer.engine.stats import RunStats
from streamer.providers.base import Source
from streamer.records import Batch, Part
from streamer.sinks.base import Sink, capabilities_of

log = logging.getLogger("streamer.workers")


class ShieldedWrites:
    """A sink whose ``write`` a cancellation cannot interrupt (the batch always completes).

    It declares the wrapped sink's capabilities; other attributes
    (``load_checkpoints``, ``commit_mark``, ...) are the wrapped sink's.
    """

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.capabilities = capabilities_of(sink)

    async def open(self) -> None:
        await self.sink.open()

    async def write(self, batch: Batch) -> None:
        with anyio.CancelScope(shield=True):
            await self.sink.write(batch)

    async def close(self, error: BaseException | None) -> None:
        await self.sink.close(error)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sink, name)


async def run_until_signalled(
    signals: Iterable[signal.Signals | int],
    go: Callable[[Sink], Awaitable[RunStats]],
    sink: Sink,
    stats: RunStats,
) -> RunStats:
    """Run ``go(shielded sink)``; on one of ``signals`` stop it gracefully and return ``stats``."""
    wanted = [signal.Signals(s) for s in signals]
    try:
        receiver = anyio.open_signal_receiver(*wanted)
        received = receiver.__enter__()
    except (ValueError, RuntimeError) as exc:
        names = ", ".join(sig.name for sig in wanted)
        raise RuntimeError(
            f"stop_on={names} needs the main thread of the process (signal handlers "
            f"cannot be installed elsewhere): {exc}"
        ) from exc
    failure: BaseException | None = None
    try:
        async with anyio.create_task_group() as tg:
            run_scope = anyio.CancelScope()

            async def watch() -> None:
                async for sig in received:
                    if stats.stopped_by is None:
                        stats.stopped_by = signal.Signals(sig).name
                        log.warning("%s received: finishing the current batch, then stopping", stats.stopped_by)
                        run_scope.cancel()

            tg.start_soon(watch)
            try:
                with run_scope:
                    await go(ShieldedWrites(sink))
            except BaseException as exc:
                failure = exc  # re-raised as is below, not wrapped in the task group's ExceptionGroup
            finally:
                tg.cancel_scope.cancel()
    finally:
        receiver.__exit__(None, None, None)
    if failure is not None:
        raise failure
    if run_scope.cancelled_caught:
        log.warning("stopped by %s after %s records; rerun to resume", stats.stopped_by, stats.records)
    return stats


class PartitionedSource:
    """The parts of ``source`` whose index is ``worker`` modulo ``workers``.

    Run one per worker process (``worker`` = 0 … ``workers``-1) over the same
    list of files and every part is streamed by exactly one of them.  Each
    worker keeps its own checkpoints (a sink or state file per worker, or
    one database: part keys do not collide).  Meant for sources whose parts
    are already known (URLs); a vendor source would create one export per
    worker — let one coordinator create the export and hand out its files.
    """

    def __init__(self, source: Source, worker: int, workers: int) -> None:
        if workers < 1 or not 0 <= worker < workers:
            raise ValueError(f"worker must be in 0..{workers - 1} for {workers} workers, not {worker}")
        self.source = source
        self.worker = worker
        self.workers = workers
        self.name = source.name

    async def parts(self, session: aiohttp.ClientSession) -> AsyncIterator[Part]:
        async with contextlib.aclosing(self.source.parts(session)) as parts:
            async for part in parts:
                if part.info.index % self.workers == self.worker:
                    yield part
