"""The sink contract and the capabilities a sink declares.

``write`` is awaited for every batch and nothing else is read from the
network while the buffers ahead of it are full: a sink that takes its time
slows the download down to the socket.  When ``write`` returns, the batch is
considered delivered and its checkpoint may be saved; a sink that stores
``batch.checkpoint`` together with the records gets exactly-once resume.
Batches may be empty: the last batch of each part (``checkpoint.done``)
marks its end.

What a sink can do beyond the three calls is *declared* on its class as
``capabilities`` (the way dlt declares a destination's capabilities), never
guessed from the methods it happens to have: a sink that says
``commits_checkpoints`` is a :class:`TransactionalSink` and a run resumes from
what it holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from streamer.records import Batch, Bookmarks, Checkpoint


@dataclass(frozen=True, slots=True)
class SinkCapabilities:
    """What a sink promises beyond ``open``/``write``/``close``."""

    commits_checkpoints: bool = False
    """Each batch's checkpoint is committed in the same transaction as its
    records, and ``load_checkpoints()`` returns them: exactly-once resume
    without a state file (SQLite, DuckDB, PostgreSQL, ``dir``)."""

    stores_bookmarks: bool = False
    """``batch.bookmarks`` are committed in the batch's transaction and
    ``load_bookmarks()`` returns them: an incremental run continues from the
    sink alone (:class:`BookmarkSink`)."""

    emits_bookmarks: bool = False
    """Bookmarks are handed on to whoever runs the sink (Singer's STATE)
    instead of kept: a first incremental run needs no other store."""

    rolls_back_to_mark: bool = False
    """``commit_mark()``/``sync()``/``restore(mark)``: a state store can cut
    the output back to what it recorded as delivered (``CommittableSink`` in
    :mod:`streamer.state.store`): exactly-once with a state file (JSONL files)."""


PLAIN = SinkCapabilities()
"""A sink that declares nothing: delivered batches are its only promise."""

TRANSACTIONAL = SinkCapabilities(commits_checkpoints=True)

STORING = SinkCapabilities(commits_checkpoints=True, stores_bookmarks=True)
"""A database or ``dir``: checkpoints and bookmarks committed with the rows."""

ROLLS_BACK = SinkCapabilities(rolls_back_to_mark=True)


@runtime_checkable
class Sink(Protocol):
    async def open(self) -> None:
        """Prepare (open files, connect); called once before the first batch."""

    async def write(self, batch: Batch) -> None:
        """Deliver one batch; return only when it is as durable as the sink promises."""

    async def close(self, error: BaseException | None) -> None:
        """Flush and release; ``error`` is set when the run failed or was cancelled."""


class TransactionalSink(Sink, Protocol):
    """A sink declaring ``capabilities.commits_checkpoints``: it stores checkpoints with its data."""

    capabilities: SinkCapabilities

    async def load_checkpoints(self) -> Mapping[str, Checkpoint]:
        """The checkpoints committed so far, by part key (empty for a new sink); after ``open``."""


class BookmarkSink(Sink, Protocol):
    """A sink declaring ``capabilities.stores_bookmarks``."""

    capabilities: SinkCapabilities

    async def load_bookmarks(self) -> Bookmarks:
        """The bookmarks this sink committed (empty when none yet); after ``open``."""


def capabilities_of(sink: Sink) -> SinkCapabilities:
    """The capabilities ``sink`` declares (:data:`PLAIN` for a sink that declares none)."""
    declared = getattr(sink, "capabilities", PLAIN)
    if not isinstance(declared, SinkCapabilities):
        raise TypeError(f"{type(sink).__name__}.capabilities must be a SinkCapabilities, not {declared!r}")
    return declared


def as_transactional(sink: Sink) -> TransactionalSink | None:
    """``sink`` as a :class:`TransactionalSink` when it declares so, else ``None``."""
    return sink if capabilities_of(sink).commits_checkpoints else None  # type: ignore[return-value]
