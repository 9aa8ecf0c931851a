"""The task a Dask worker runs for one part: rebuild, lease, stream, report.

A plain function of a :class:`~streamer.distributed.specs.PartSpec` (Dask
pickles it by reference, not as a closure).  It is synchronous on purpose:
Dask runs it in the worker's thread pool, where it starts its own event
loop, so a CPU-bound part never stalls the worker's own loop (heartbeats,
transfers).  Live progress goes out as worker events on the run's topic
(``Worker.log_event``), which the coordinator subscribes to.
"""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

from streamer.distributed.sources import rebuild_source
from streamer.distributed.specs import ClusterPartError, PartResult, PartSpec, counters
from streamer.distributed.targets import target_for
from streamer.engine.runner import run_export
from streamer.engine.stats import RunStats
from streamer.errors import StreamerError
from streamer.http.redact import redact_text

PROGRESS_INTERVAL = 0.5
"""Seconds between a running part's progress events."""


def progress_topic(run_id: str) -> str:
    return f"streamer-progress-{run_id}"


def stream_part(spec: PartSpec) -> PartResult:
    """Stream one part into the cluster sink; resume at its committed checkpoint."""
    try:
        return asyncio.run(_stream_part(spec))
    except StreamerError as exc:
        raise ClusterPartError(f"{spec.name} ({spec.key}): {redact_text(str(exc))}") from None


async def _stream_part(spec: PartSpec) -> PartResult:
    started = time.monotonic()
    worker, emit = _event_sink()
    attempt = f"{worker}/{os.getpid()}/{started}"
    target = target_for(spec.sink_url)
    stats = RunStats()
    resumed = {"line": 0, "done": False}

    def report(stats: RunStats) -> None:
        emit(progress_topic(spec.run_id), _progress(spec.key, attempt, worker, stats))

    async with target.open_part(spec) as sink:
        committed = await target.committed()  # read under the lease: no other attempt is writing the part
        start = committed.get(spec.key)
        if start is not None:
            resumed.update(line=start.line, done=start.done)
        await run_export(
            rebuild_source(spec),
            sink,
            config=spec.config,
            checkpoints=committed,
            stats=stats,
            on_progress=report,
            progress_interval=PROGRESS_INTERVAL,
        )
    return PartResult(
        key=spec.key,
        attempt=attempt,
        **counters(stats),
        skipped_lines=stats.skipped_lines,
        resumed_from_line=int(resumed["line"]),
        already_done=bool(resumed["done"]),
        worker=worker,
        pid=os.getpid(),
        seconds=time.monotonic() - started,
        peak_rss=peak_rss(),
    )


def _progress(key: str, attempt: str, worker: str, stats: RunStats) -> dict[str, object]:
    return {
        "key": key,
        "attempt": attempt,
        "worker": worker,
        "pid": os.getpid(),
        **counters(stats),
    }


def _event_sink() -> tuple[str, Callable[[str, Any], None]]:
    """(this worker's address, ``log_event``); outside a worker (direct calls), a no-op."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except ValueError:
        return "local", lambda topic, msg: None
    return str(worker.address), worker.log_event


def peak_rss() -> int:
    """Peak resident set size of this process in bytes (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)
