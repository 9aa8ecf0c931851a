"""The state-store contract and the logic every backend shares.

What is recorded, and when:

* **Part checkpoints** — only *acknowledged* positions: ``acknowledge`` is
  called after the sink's ``write`` returned for a batch, so a saved offset
  never runs ahead of what the sink holds.
* **Bookmarks** of incremental exports — staged when the batch that
  completes a window was written, and saved in the same document as that
  batch's checkpoint (never earlier: the durable copy moves only in
  :meth:`BaseStateStore.flush`).
* **Export ids and statuses** (:attr:`BaseStateStore.exports`) — written
  through immediately (they are rare and creating an export twice is costly).
* **The sink's commit mark** — for sinks that can roll their output back
  (:class:`CommittableSink`, e.g. the JSONL file sink): the mark saved with a
  set of checkpoints describes exactly the output those checkpoints cover, and
  the sink's data is made durable *before* the document that names the mark is
  written.  Resuming rolls the output back to the mark, so a batch written
  after the last save is neither lost nor duplicated: exactly-once.

Writes are coalesced: at most one every ``flush_interval`` seconds while
batches flow, and always when a part finishes and when the run ends.  The
trade-off: a crash re-delivers at most ``flush_interval`` seconds of
acknowledged batches to a non-committable sink (at-least-once), in exchange
for not paying an fsync per batch.  Committable sinks lose nothing either way,
their output being rolled back to match.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, MutableMapping
from datetime import datetime, timezone
from typing import Any, Protocol, cast, runtime_checkable

import anyio.to_thread

from streamer.errors import StreamerError, describe_exception
from streamer.records import Checkpoint
from streamer.sinks.base import Sink, capabilities_of
from streamer.state.scrub import scrub, scrub_text

STATE_FORMAT = "streamer-state"
STATE_VERSION = 1


class StateError(StreamerError):
    """The state cannot be read, does not match this run, or cannot be written."""


@runtime_checkable
class CommittableSink(Protocol):
    """A sink whose output can be rolled back to a mark: exactly-once with a state store.

    The engine only ever calls ``open``/``write``/``close``; the state store
    calls these three around them.
    """

    def commit_mark(self) -> Mapping[str, Any] | None:
        """JSON-able position of everything ``write`` has returned so far (cheap; may run before ``open``)."""

    async def sync(self) -> None:
        """Make everything written so far durable (fsync); a no-op once closed (``close`` syncs)."""

    def restore(self, mark: Mapping[str, Any]) -> None:
        """Before ``open``: discard any output written after ``mark``."""


@runtime_checkable
class StateStore(Protocol):
    """What the library and the CLI need from a state backend."""

    exports: MutableMapping[str, dict[str, Any]]
    """Export ids and statuses by a provider-chosen key (``"mews/OrderItem"``)."""

    def load(self) -> None:
        """Read the saved state (nothing saved yet is not an error)."""

    def reset(self) -> None:
        """Forget every checkpoint, export and mark (a fresh run on an old state)."""

    def checkpoints(self) -> dict[str, Checkpoint]:
        """Acknowledged checkpoints by part key."""

    def known_exports(self, source: str) -> dict[str, str]:
        """Entity type → export id a provider saved (feed a provider's ``known_exports``)."""

    def remember_export(self, source: str, entity_type: str, export_id: str, status: str = "created") -> None:
        """Save at once which export a provider created, so a rerun reuses it."""

    def attach_sink(self, sink: object, *, restore: bool) -> None:
        """Coordinate with a committable sink (roll it back to the saved mark when ``restore``)."""

    async def acknowledge(self, checkpoint: Checkpoint) -> None:
        """Record a position the sink has accepted; saves when due."""

    async def flush(self) -> None:
        """Save now what was acknowledged."""

    async def close(self, error: BaseException | None = None) -> None:
        """Final save, with the run's outcome."""


def checkpoint_from_json(key: str, entry: Mapping[str, Any]) -> Checkpoint:
    try:
        return Checkpoint.from_json(key, entry)
    except ValueError as exc:
        raise StateError(str(exc)) from exc


class _Exports(MutableMapping[str, dict[str, Any]]):
    """A dict that saves the store whenever an entry is set or removed.

    Assign a new dict to change an entry (``store.exports[k] = {...}``):
    mutating a nested dict in place is not noticed until the next save.
    """

    def __init__(self, store: BaseStateStore) -> None:
        self._store = store
        self.data: dict[str, dict[str, Any]] = {}

    def __getitem__(self, key: str) -> dict[str, Any]:
        return self.data[key]

    def __setitem__(self, key: str, value: dict[str, Any]) -> None:
        if not isinstance(value, Mapping):
            raise TypeError(f"export state must be a mapping, not {type(value).__name__}")
        self.data[key] = dict(value)
        self._store.save_now()

    def __delitem__(self, key: str) -> None:
        del self.data[key]
        self._store.save_now()

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


class BaseStateStore:
    """Everything but persistence: subclasses implement :meth:`read` and :meth:`write`.

    ``write`` may run in a worker thread and must replace the whole document
    atomically (a reader never sees half of it).
    """

    def __init__(self, *, flush_interval: float = 0.5) -> None:
        self.flush_interval = flush_interval
        self.exports = _Exports(self)
        self.run: dict[str, Any] = {}
        self.saves = 0
        """Documents written so far (for tests and metrics)."""
        self._parts: dict[str, dict[str, Any]] = {}
        self._durable_parts: dict[str, dict[str, Any]] = {}
        self._bookmarks: dict[str, dict[str, Any]] = {}
        self._durable_bookmarks: dict[str, dict[str, Any]] = {}
        self._mark: Mapping[str, Any] | None = None
        self._durable_mark: Mapping[str, Any] | None = None
        self._sink: CommittableSink | None = None
        self._dirty = False
        self._loaded = False
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()

    # ------------------------------------------------------------ persistence

    def read(self) -> dict[str, Any] | None:
        """The saved document, or ``None`` when nothing was saved yet."""
        raise NotImplementedError

    def write(self, document: dict[str, Any]) -> None:
        """Replace the saved document atomically and durably."""
        raise NotImplementedError

    @property
    def where(self) -> str:
        """Where the state lives, for error messages."""
        return type(self).__name__

    def acquire(self) -> None:
        """Claim the state for this run (raise :class:`StateError` if another run holds it)."""

    def release(self) -> None:
        """Give the claim up (also implied when the process dies)."""

    # ------------------------------------------------------------------ state

    def load(self) -> None:
        """Read the saved state once (later calls keep what is in memory)."""
        if self._loaded:
            return
        self.acquire()
        self._loaded = True
        try:
            self._load()
        except BaseException:
            self._loaded = False
            self.release()
            raise

    def _load(self) -> None:
        document = self.read()
        if document is None:
            return
        if isinstance(document, dict) and document.get("format") is None and _is_singer_state(document):
            self._load_singer(document)
            return
        if not isinstance(document, dict) or document.get("format") != STATE_FORMAT:
            raise StateError(f"{self.where} is not a streamer state document")
        if document.get("version") != STATE_VERSION:
            raise StateError(
                f"{self.where} has state version {document.get('version')!r}; this streamer reads {STATE_VERSION}"
            )
        parts = document.get("parts") or {}
        for key, entry in parts.items():
            checkpoint_from_json(key, entry)  # validate now, not mid-run
        self._parts = {k: dict(v) for k, v in parts.items()}
        self._durable_parts = {k: dict(v) for k, v in parts.items()}
        self.exports.data = {k: dict(v) for k, v in (document.get("exports") or {}).items()}
        self.run = dict(document.get("run") or {})
        self._mark = self._durable_mark = document.get("sink")
        self._bookmarks = {k: dict(v) for k, v in (document.get("bookmarks") or {}).items()}
        self._durable_bookmarks = {k: dict(v) for k, v in self._bookmarks.items()}

    def _load_singer(self, document: dict[str, Any]) -> None:
        """A Singer STATE (the message, or its ``value``) fed back: continue from its bookmarks."""
        value = document.get("value") if document.get("type") == "STATE" else document
        bookmarks = value.get("bookmarks") if isinstance(value, dict) else None
        if not isinstance(bookmarks, dict) or not all(isinstance(v, dict) for v in bookmarks.values()):
            raise StateError(f"{self.where} is a Singer STATE without a bookmarks object")
        imported: dict[str, dict[str, Any]] = {}
        for stream, entry in bookmarks.items():
            if "replication_key_value" not in entry:
                raise StateError(f"{self.where}: the Singer bookmark of {stream!r} has no replication_key_value")
            imported[str(entry.get("key") or stream)] = {**entry, "stream": entry.get("stream", stream)}
        self._bookmarks = {k: dict(v) for k, v in imported.items()}
        self._durable_bookmarks = {k: dict(v) for k, v in imported.items()}

    def bookmarks(self) -> dict[str, dict[str, Any]]:
        """The saved bookmarks of incremental exports, by bookmark key."""
        self.load()
        return {k: dict(v) for k, v in self._bookmarks.items()}

    def stage_bookmarks(self, bookmarks: Mapping[str, Mapping[str, Any]]) -> None:
        """Bookmarks a written batch completed: saved with the next flush (with that batch's checkpoint)."""
        self._bookmarks.update({k: dict(v) for k, v in bookmarks.items()})
        self._dirty = True

    def reset(self) -> None:
        self._parts, self._durable_parts = {}, {}
        self.exports.data = {}
        self._mark = self._durable_mark = None
        self.run = {}
        self._dirty = True

    def checkpoints(self) -> dict[str, Checkpoint]:
        return {key: checkpoint_from_json(key, entry) for key, entry in self._parts.items()}

    # ---------------------------------------------------------------- exports

    def known_exports(self, source: str) -> dict[str, str]:
        """Entity type → export id saved for ``source`` (a provider's ``known_exports``)."""
        self.load()
        prefix = f"{source}/"
        return {
            key[len(prefix) :]: str(entry["id"])
            for key, entry in self.exports.items()
            if key.startswith(prefix) and entry.get("id")
        }

    def remember_export(self, source: str, entity_type: str, export_id: str, status: str = "created") -> None:
        """Save (immediately) that ``source`` created/uses ``export_id`` for ``entity_type``."""
        self.load()
        self.exports[f"{source}/{entity_type}"] = {"id": export_id, "status": status, "at": _utc_now()}

    def attach_sink(self, sink: Sink, *, restore: bool) -> None:
        if not capabilities_of(sink).rolls_back_to_mark:  # declared, never guessed from its methods
            self._sink = None
            return
        sink = cast(CommittableSink, sink)
        if restore and self._durable_mark is not None:
            sink.restore(self._durable_mark)
        self._sink = sink
        mark = sink.commit_mark()
        self._mark = self._durable_mark = mark

    def mark_running(self) -> None:
        now = _utc_now()
        self.run = {"status": "running", "started_at": now, "resumed_from": self.run.get("status")}
        self._dirty = True

    # --------------------------------------------------------------- progress

    async def acknowledge(self, checkpoint: Checkpoint) -> None:
        self._parts[checkpoint.part_key] = checkpoint.to_json()
        if self._sink is not None:
            self._mark = self._sink.commit_mark()
        self._dirty = True
        if checkpoint.done or time.monotonic() - self._last_flush >= self.flush_interval:
            await self.flush()

    async def flush(self) -> None:
        if not self._dirty:
            return
        parts = {k: dict(v) for k, v in self._parts.items()}
        bookmarks = {k: dict(v) for k, v in self._bookmarks.items()}
        mark = self._mark
        self._dirty = False
        self._last_flush = time.monotonic()
        if self._sink is not None:
            await self._sink.sync()  # the data a mark names is durable before the mark is
        with self._lock:
            self._durable_parts, self._durable_mark = parts, mark
            self._durable_bookmarks = bookmarks
        await anyio.to_thread.run_sync(self.save_now)

    async def close(self, error: BaseException | None = None) -> None:
        status = "completed"
        if error is not None:
            cancelled = isinstance(
                error, (anyio.get_cancelled_exc_class(), KeyboardInterrupt, SystemExit, GeneratorExit)
            )
            status = "interrupted" if cancelled else "failed"
        self.run = {**self.run, "status": status, "finished_at": _utc_now()}
        if error is not None and status == "failed":
            self.run["error"] = describe_exception(error)[:2000]
        self._dirty = True
        try:
            await self.flush()
        finally:
            self._sink = None
            self._loaded = False
            self.release()

    def save_now(self) -> None:
        """Write the durable part of the state (safe from any thread)."""
        with self._lock:
            document = {
                "format": STATE_FORMAT,
                "version": STATE_VERSION,
                "updated_at": _utc_now(),
                "run": self.run,
                "exports": self.exports.data,
                "parts": self._durable_parts,
                "sink": self._durable_mark,
            }
            if self._durable_bookmarks:
                document["bookmarks"] = self._durable_bookmarks
            document = scrub(document)
            try:
                self.write(document)
            except (OSError, TypeError) as exc:  # TypeError: a decoder state that is not JSON
                raise StateError(f"cannot save state to {self.where}: {scrub_text(str(exc))}") from exc
            self.saves += 1


def _is_singer_state(document: dict[str, Any]) -> bool:
    return document.get("type") == "STATE" or "bookmarks" in document


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
