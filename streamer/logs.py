"""Logging for people and for log collectors.

Every logger of the library is a child of ``streamer`` (``streamer.engine``,
``streamer.download``, ``streamer.retry``, ``streamer.badlines``,
``streamer.workers``, ``streamer.progress``, ``streamer.cli``, and the
providers' ``streamer.<vendor>``), and the library never configures logging
itself: attach a handler to ``logging.getLogger("streamer")`` to route them.
:class:`JsonFormatter` writes one JSON object per line — what the CLI's
``--log-format json`` uses — with extra fields (``extra={"progress": ...}``)
kept as fields.  Both formatters here redact what they write
(:func:`streamer.redaction.redact_text`: URL queries, credentials, registered
secrets) — the message, its arguments, extra fields and tracebacks alike —
because a log argument may be an aiohttp exception that embeds a signed URL.
A program routing the ``streamer`` loggers to its own handlers should use
:class:`TextFormatter`/:class:`JsonFormatter` or add :class:`RedactingFilter`.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

import orjson

from streamer.redaction import redact_text, redact_value

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
                plain = value if isinstance(value, (str, int, float, bool, dict, list, tuple, type(None))) else str(value)
                entry[key] = redact_value(plain, key)
        if record.exc_info:
            entry["exception"] = redact_text(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact_text(self.formatStack(record.stack_info))
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """``streamer: LEVEL message`` (plus any traceback), redacted as a whole."""

    def __init__(self, fmt: str = "streamer: %(levelname)s %(message)s") -> None:
        super().__init__(fmt)

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


class RedactingFilter(logging.Filter):
    """For handlers with their own formatter: redacts each record's message in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_text(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
        return True


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
        handler.setFormatter(TextFormatter())
    handler._streamer_cli = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_streamer_cli", False):  # ours, from an earlier call
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
