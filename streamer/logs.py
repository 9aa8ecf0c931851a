"""Logging for people and for log collectors.

Every logger of the library is a child of ``streamer`` (``streamer.engine``,
``streamer.download``, ``streamer.retry``, ``streamer.badlines``,
``streamer.workers``, ``streamer.progress``, ``streamer.cli``, and the
providers' ``streamer.<vendor>``), and the library never configures logging
itself: attach a handler to ``logging.getLogger("streamer")`` to route them.
:class:`JsonFormatter` writes one JSON object per line — what the CLI's
``--log-format json`` uses — with extra fields (``extra={"progress": ...}``)
kept as fields, and registered secrets masked.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

import orjson

from streamer.http.redact import redact_text

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """``{"ts": ..., "level": ..., "logger": ..., "message": ..., <extra fields>}``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact_text(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = redact_text(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted.

    Test runners (click's CliRunner, pytest) swap ``sys.stderr``; a handler
    holding the old object would write to a closed stream afterwards.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def configure_logging(level: int, log_format: str = "text", stream: TextIO | None = None) -> None:
    """The CLI's logging: one handler on stderr (or ``stream``) for the ``streamer`` loggers."""
    handler: logging.Handler = logging.StreamHandler(stream) if stream is not None else _CurrentStderr()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("streamer: %(levelname)s %(message)s"))
    handler._streamer_cli = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_streamer_cli", False):  # ours, from an earlier call
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
