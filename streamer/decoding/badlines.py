"""What happens to a line that does not decode: fail loudly or skip and keep it.

``fail`` (the default) stops the run with the line's exact location.  ``skip``
counts the line, logs the first few, and appends each one to a dead-letter
JSONL file when asked, so nothing disappears without a trace.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import orjson

from streamer.errors import DecodeError

log = logging.getLogger("streamer.badlines")

BadLinePolicy = Literal["fail", "skip"]


@dataclass
class BadLines:
    """Bad-line policy and the record of what it skipped (one per run)."""

    policy: BadLinePolicy = "fail"
    dead_letter: Path | str | None = None
    log_first: int = 5
    skipped: int = 0
    by_part: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.policy not in ("fail", "skip"):
            raise ValueError(f"bad-line policy must be 'fail' or 'skip', not {self.policy!r}")

    def handle(self, error: DecodeError) -> None:
        """Raise under ``fail``; count, log and dead-letter under ``skip``."""
        if self.policy == "fail":
            raise error
        with self._lock:
            self.skipped += 1
            self.by_part[error.part] = self.by_part.get(error.part, 0) + 1
            if self.skipped <= self.log_first:
                log.warning("skipped bad line: %s", error)
            if self.dead_letter is not None:
                self._write_dead_letter(error)

    def _write_dead_letter(self, error: DecodeError) -> None:
        entry = {
            "part": error.part,
            "line": error.line,
            "offset": error.offset,
            "error": error.reason,
        }
        try:
            entry["raw"] = error.snippet.decode("utf-8")
        except UnicodeDecodeError:
            entry["raw_base64"] = base64.b64encode(error.snippet).decode("ascii")
        fd = os.open(self.dead_letter, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "ab") as fh:
            fh.write(orjson.dumps(entry) + b"\n")
