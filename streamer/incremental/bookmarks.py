"""Bookmarks: how far an incremental export has been delivered, committed with the data.

A bookmark is kept per ``(source, scope, entity type)`` — e.g.
``mews/enterprises:3fa8…/OrderItem`` — and its value is the *end* of the
last change window whose export was delivered completely (Singer calls it
the ``replication_key_value``).  The next run asks for changes from that
value minus an overlap, so a record is never skipped.

When the value moves is what makes it safe: a window's bookmark rides on
the batch that completes the window (the last ``done`` checkpoint among the
parts of its export, and of every earlier window of the same key), so a
sink that commits checkpoints in one transaction with its records
(SQLite, DuckDB, PostgreSQL, ``dir``) commits the bookmark in that same
transaction, and a state file saves it in the same document as that
checkpoint.  A run killed at any point leaves the bookmark where it was.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol, cast, runtime_checkable

from streamer.errors import ConfigError
from streamer.incremental.repeats import RepeatFilter
from streamer.records import Batch, Bookmarks, Checkpoint, PartInfo
from streamer.sinks.base import BookmarkSink, Sink, capabilities_of



def iso(moment: datetime) -> str:
    """The one text form of a bookmark value: UTC, whole seconds, ``Z``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"bookmark {where} holds {text!r}, which is not an ISO 8601 UTC time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@runtime_checkable
class BookmarkState(Protocol):
    """What a state store offers the tracker (see :class:`~streamer.state.store.BaseStateStore`)."""

    exports: Any

    def bookmarks(self) -> Bookmarks: ...

    def stage_bookmarks(self, bookmarks: Mapping[str, Mapping[str, Any]]) -> None: ...


@dataclass
class _Window:
    key: str
    end: str
    stream: str
    export_id: str
    source: str
    remaining: set[str] = field(default_factory=set)


class BookmarkTracker:
    """Follows the windows of one run and stamps their bookmarks on the batches that complete them."""

    def __init__(self, replication_key: str, *, overlap: timedelta = timedelta(0)) -> None:
        self.replication_key = replication_key
        self.overlap = overlap
        self.repeats = RepeatFilter(replication_key)
        """Drops the overlap's records already delivered (see :mod:`streamer.incremental.repeats`)."""
        self.values: Bookmarks = {}
        """Committed bookmarks (loaded at the start, advanced as windows complete)."""
        self.state: BookmarkState | None = None
        self.loaded_from = ""
        self._queues: dict[str, deque[_Window]] = {}
        self._by_part: dict[str, _Window] = {}
        self._done: set[str] = set()

    def attach_state(self, state: object | None) -> None:
        """Keep bookmarks (and the windows of exports in flight) in this state store too."""
        self.state = state if isinstance(state, BookmarkState) else None

    async def load(self, sink: Sink, checkpoints: Mapping[str, Checkpoint]) -> None:
        """Read the committed bookmarks: the sink's own when it stores them, else the state's."""
        capabilities = capabilities_of(sink)
        if capabilities.stores_bookmarks:
            self.values = dict(await cast(BookmarkSink, sink).load_bookmarks())
            self.loaded_from = repr(sink)
        elif self.state is not None:
            self.values = dict(self.state.bookmarks())
            self.loaded_from = "the state file"
        elif capabilities.emits_bookmarks:
            self.values = {}  # the first run: its STATE, fed back with --state, carries them on
            self.loaded_from = "nowhere yet"
        else:
            raise ConfigError(
                "an incremental export needs somewhere to keep its bookmark: a storing sink "
                "(sqlite:, duckdb:, postgresql:, dir:) or a state file (CLI: --state FILE; library: state=)"
            )
        self._done = {key for key, checkpoint in checkpoints.items() if checkpoint.done}
        for key, entry in self.values.items():
            self.repeats.load(entry.get("key") or key, entry.get("delivered") or ())

    def value(self, key: str, stream: str) -> datetime | None:
        """The committed bookmark of ``key`` (a Singer STATE keyed by stream name is accepted too)."""
        entry = self.values.get(key) or self.values.get(stream)
        if not entry:
            return None
        return parse_iso(entry.get("replication_key_value", ""), key)

    # ------------------------------------------------------------ windows

    def saved_window(self, key: str) -> Mapping[str, Any] | None:
        """The window (start, end, export id) an interrupted run was exporting for ``key``."""
        if self.state is None:
            return None
        return self.state.exports.get(_plan_key(key))

    def remember_window(self, key: str, start: str | None, end: str, export_id: str) -> None:
        """Save at once which export covers which window, so a rerun resumes that very export."""
        if self.state is not None:
            self.state.exports[_plan_key(key)] = {"start": start, "end": end, "id": export_id}

    def expect(self, key: str, stream: str, end: datetime, parts: Sequence[PartInfo], *, export_id: str) -> None:
        """The export of the next window of ``key`` (in order) consists of these parts."""
        source = parts[0].source if parts else key.split("/", 1)[0]
        window = _Window(key, iso(end), stream, export_id, source, {p.key for p in parts} - self._done)
        self._queues.setdefault(key, deque()).append(window)
        for part in parts:
            self._by_part[part.key] = window

    def stamp(self, batch: Batch) -> Batch:
        """Before the sink writes ``batch``: drop repeats, attach the bookmarks it completes (none mostly)."""
        checkpoint = batch.checkpoint
        window = self._by_part.get(checkpoint.part_key)
        if window is not None and batch.records:
            batch.records = self.repeats.keep(window.key, batch.records, self._tail_from(window.end))
        if not checkpoint.done:
            return batch
        self._done.add(checkpoint.part_key)
        if window is None:
            return batch
        window.remaining.discard(checkpoint.part_key)
        advanced = self._advance(window.key)
        if advanced:
            batch.bookmarks = advanced
        return batch

    def committed(self, batch: Batch) -> None:
        """After the sink accepted ``batch``: its bookmarks are the committed ones now."""
        if batch.bookmarks:
            self.values.update(batch.bookmarks)
            if self.state is not None:
                self.state.stage_bookmarks(batch.bookmarks)

    def leftovers(self) -> list[Batch]:
        """Empty batches for windows complete without a batch to carry them (an export without files)."""
        batches = []
        for key in list(self._queues):
            queue = self._queues[key]
            if not queue or queue[0].remaining:
                continue
            head = queue[0]
            advanced = self._advance(key)
            info = PartInfo(source=head.source, index=-1, entity_type=head.stream, export_id=head.export_id,
                            name="bookmark")
            batch = Batch([], info, Checkpoint(info.key, 0, 0, done=True))
            batch.bookmarks = advanced
            batches.append(batch)
        return batches

    def _advance(self, key: str) -> Bookmarks:
        queue = self._queues.get(key)
        last: _Window | None = None
        while queue and not queue[0].remaining:
            last = queue.popleft()
        if last is None:
            return {}
        entry: dict[str, Any] = {"stream": last.stream, "replication_key": self.replication_key,
                                 "replication_key_value": last.end}
        delivered = self.repeats.delivered(key, self._tail_from(last.end))
        if delivered:
            entry["delivered"] = delivered
        return {key: entry}

    def _tail_from(self, end: str) -> str:
        """Versions at or after this are in the next window too (text form of ``end - overlap``)."""
        return iso(parse_iso(end, "window end") - self.overlap)


def _plan_key(key: str) -> str:
    return f"bookmark-window:{key}"

