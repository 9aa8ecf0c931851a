"""The source contract: an async stream of parts, produced as they become ready.

A provider creates or finds exports, polls them, and yields a
:class:`~streamer.records.Part` for each file as soon as its export is ready,
so the first parts download while other exports are still processing.  Parts
carry a ``refresh`` callable when their URLs expire.

Providers must not ``yield`` from inside a task group or cancel scope (the
engine consumes ``parts()`` from its own task); they receive the run's
session and never close it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import aiohttp

from streamer.records import Batch, Checkpoint, Part

if TYPE_CHECKING:  # the sink contract, for the annotation only: importing streamer.sinks loads every sink
    from streamer.sinks.base import Sink


@runtime_checkable
class Source(Protocol):
    name: str

    def parts(self, session: aiohttp.ClientSession) -> AsyncIterator[Part]:
        """Yield every part of the export(s), in the order ordered mode should keep."""
        ...


class BookmarkKeeper(Protocol):
    """What the engine calls on an incremental source's bookmarks (:class:`streamer.incremental.BookmarkTracker`).

    Here, next to :class:`Source`, so the engine depends on this contract and
    not on :mod:`streamer.incremental`.
    """

    async def load(self, sink: Sink, checkpoints: Mapping[str, Checkpoint]) -> None:
        """Read the committed bookmarks before the first part."""

    def stamp(self, batch: Batch) -> Batch:
        """Before the sink writes ``batch``: drop repeats, attach the bookmarks it completes."""

    def committed(self, batch: Batch) -> None:
        """After the sink accepted ``batch``: its bookmarks are the committed ones."""

    def leftovers(self) -> list[Batch]:
        """Empty batches for windows complete without a batch to carry them."""


@runtime_checkable
class IncrementalSource(Source, Protocol):
    """A source that exports changes since a bookmark: the engine stamps its windows' bookmarks."""

    bookmarks: BookmarkKeeper | None
