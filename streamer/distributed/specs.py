"""What travels between the coordinator and the workers: plain, picklable values.

A task carries a :class:`PartSpec` — which provider, which export and file,
how to decode it, where it goes — and never a closure, a session or a
credential: a worker rebuilds the source from the spec and its own
environment (see :mod:`streamer.distributed.sources`).  Its answer is a
:class:`PartResult`, the counters the coordinator adds to the run's
:class:`~streamer.engine.stats.RunStats`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streamer.engine.config import StreamConfig
from streamer.errors import StreamerError
from streamer.records import PartInfo

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class PartSpec:
    """One part of one export, as a worker needs it to stream the part on its own."""

    info: PartInfo
    """The part's identity as the coordinator saw it: key, label, entity type, schema."""
    size: int | None
    format: str
    compression: str
    sink_url: str
    """Where the records go, without a password (workers read it from their environment)."""
    config: StreamConfig
    run_id: str
    """Names the run's progress topic."""
    url: str | None = None
    """The file's URL, for providers whose parts are plain URLs (nothing to re-sign)."""
    provider_config: Mapping[str, Any] = field(default_factory=dict)
    """Non-secret provider settings (base URL, entity type, ...); credentials never."""

    @property
    def key(self) -> str:
        """The part key: checkpoints, leases and (through :func:`task_key`) the Dask task key."""
        return self.info.key

    @property
    def name(self) -> str:
        """The part's label for errors and progress."""
        return self.info.describe()

    @property
    def provider(self) -> str:
        """Provider name (``Source.name``): picks the rebuilder on the worker."""
        return self.info.source

    @property
    def task_key(self) -> str:
        return task_key(self.key)


def task_key(part_key: str) -> str:
    """The Dask key of a part's task: the part key made safe, plus a digest against clashes.

    Keyed by the part, not by the run: a rerun coordinator (or a second one)
    asking for a part still being streamed gets that same task back.
    """
    return f"streamer-part-{slug(part_key)}"


def slug(part_key: str) -> str:
    """A file- and key-safe name for a part key (``urls/ab12/3`` → ``urls-ab12-3-5f0c1e``)."""
    digest = hashlib.sha256(part_key.encode()).hexdigest()[:6]
    return f"{_UNSAFE.sub('-', part_key).strip('-')}-{digest}"


@dataclass(frozen=True)
class PartResult:
    """What a worker reports when its part is delivered (or was already)."""

    key: str
    attempt: str
    """Which run of the task this was (worker, pid, start): a rescheduled part has several."""
    records: int
    bytes: int
    batches: int
    retries: int
    url_refreshes: int
    skipped_lines: int
    resumed_from_line: int
    """The line the part restarted after (0 for a fresh start): > 0 after a worker died mid-part."""
    already_done: bool
    """The sink held the whole part before this attempt began: nothing was streamed."""
    worker: str
    pid: int
    seconds: float
    peak_rss: int
    """Peak resident memory of the worker process so far, in bytes."""


COUNTERS = ("records", "bytes", "batches", "retries", "url_refreshes")
"""The :class:`~streamer.engine.stats.RunStats` counters an attempt reports: live in its progress
events, and at its end in its :class:`PartResult`; the coordinator sums them per part."""

PART_COUNTERS = tuple(name for name in COUNTERS if name != "batches")
"""Those a part's :class:`~streamer.engine.stats.PartStats` keeps."""


def counters(stats: Any) -> dict[str, int]:
    """The :data:`COUNTERS` of a ``RunStats`` or a ``PartResult``."""
    return {name: int(getattr(stats, name)) for name in COUNTERS}


class ClusterPartError(StreamerError):
    """A part failed on a worker; the message is the worker's one-line error, prefixed by the part.

    Rebuilt from a string so it crosses process boundaries intact (the
    original error classes take keyword arguments pickle cannot replay).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
