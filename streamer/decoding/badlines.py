"""What happens to a line that does not decode: fail loudly or skip and keep it.

``fail`` (the default) stops the run with the line's exact location.  ``skip``
counts the line, logs the first few, and keeps each one for a dead-letter
JSONL file when asked, so nothing disappears without a trace.

Dead letters are committed with the batches: the engine calls :meth:`BadLines.flush`
before handing a batch to the sink, which appends the lines skipped so far and
fsyncs them, so every dead letter of a committed checkpoint is on disk first.
A crash after the flush and before the commit makes the rerun read those lines
again: the file's own entries, read back on the first flush, are the dedupe
set — each bad line lands in the file exactly once (by part, line, offset and
content), whatever the number of crashes and reruns.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from streamer.errors import ConfigError, DecodeError
from streamer.files import read_regular_file
from streamer.redaction import redact_text

log = logging.getLogger("streamer.badlines")

BadLinePolicy = Literal["fail", "skip"]

_EntryKey = tuple[Any, Any, Any, Any]


def _entry_key(entry: dict[str, Any]) -> _EntryKey:
    return (entry.get("part"), entry.get("line"), entry.get("offset"), entry.get("raw", entry.get("raw_base64")))


@dataclass
class BadLines:
    """Bad-line policy and the record of what it skipped (one per run)."""

    policy: BadLinePolicy = "fail"
    dead_letter: Path | str | None = None
    log_first: int = 5
    skipped: int = 0
    by_part: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _pending: list[dict[str, Any]] = field(default_factory=list, repr=False)
    _written: set[_EntryKey] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.policy not in ("fail", "skip"):
            raise ValueError(f"bad-line policy must be 'fail' or 'skip', not {self.policy!r}")

    def handle(self, error: DecodeError) -> None:
        """Raise under ``fail``; count, log and keep for the dead-letter file under ``skip``."""
        if self.policy == "fail":
            raise error
        with self._lock:
            self.skipped += 1
            self.by_part[error.part] = self.by_part.get(error.part, 0) + 1
            if self.skipped <= self.log_first:
                log.warning("skipped bad line: %s", error)
            if self.dead_letter is not None:
                self._pending.append(_entry(error))

    @property
    def pending(self) -> int:
        """Dead letters not yet on disk (a cheap test before each batch)."""
        return len(self._pending)

    def flush(self) -> int:
        """Append the pending dead letters not already in the file, fsync; return how many.

        Blocking (file I/O): the engine runs it in a worker thread.  An
        unwritable path is a :class:`~streamer.errors.ConfigError` naming it.
        """
        with self._lock:
            pending, self._pending = self._pending, []
            if not pending or self.dead_letter is None:
                return 0
            try:
                if self._written is None:
                    self._written = self._read_back()
                fresh = []
                for entry in pending:
                    key = _entry_key(entry)
                    if key not in self._written:
                        self._written.add(key)
                        fresh.append(orjson.dumps(entry) + b"\n")
                if fresh:
                    fd = os.open(self.dead_letter, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                    try:
                        os.write(fd, b"".join(fresh))
                        os.fsync(fd)
                    finally:
                        os.close(fd)
            except OSError as exc:
                self._pending[:0] = pending  # still owed: a later flush may succeed
                raise ConfigError(f"cannot write the dead-letter file {self.dead_letter}: {exc.strerror or exc}") from None
            return len(fresh)

    def _read_back(self) -> set[_EntryKey]:
        """The entries an earlier run already wrote; a torn last line (power cut) is cut off."""
        path = Path(self.dead_letter)  # type: ignore[arg-type]
        try:
            data = read_regular_file(path)
        except FileNotFoundError:
            return set()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            os.truncate(path, keep)
            data = data[:keep]
        written: set[_EntryKey] = set()
        for line in data.splitlines():
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # not ours: leave it, it cannot match a new entry
            if isinstance(entry, dict):
                written.add(_entry_key(entry))
        return written


def _entry(error: DecodeError) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "part": error.part,
        "line": error.line,
        "offset": error.offset,
        "error": redact_text(error.reason),
    }
    try:
        entry["raw"] = error.snippet.decode("utf-8")
    except UnicodeDecodeError:
        entry["raw_base64"] = base64.b64encode(error.snippet).decode("ascii")
    return entry
