"""Every error streamer raises, each saying what went wrong and where.

Messages name the part (never its signed URL), the line and byte offset for
data errors, and the vendor's request/tracking id for API errors, so that a
failed nightly run can be diagnosed from its log line alone.
"""

from __future__ import annotations

from typing import Any

from streamer.redaction import redact_text, redact_value


class StreamerError(Exception):
    """Base class for all streamer errors.

    The message is redacted here, once for every subclass: an error quoting
    a server's body or an aiohttp exception never carries a signed URL's
    query or a registered secret into a log, the terminal or a state file.
    """

    def __init__(self, message: object = "", *args: object) -> None:
        super().__init__(redact_text(str(message)), *args)


class ConfigError(StreamerError):
    """Invalid options or arguments, detected before any request is sent."""


class HTTPError(StreamerError):
    """A request failed with an HTTP status that is not retried (or ran out of retries)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        url: str | None = None,
        details: Any = None,
    ) -> None:
        self.status = status
        self.request_id = request_id
        self.url = None if url is None else redact_text(url)
        self.details = redact_value(details)
        parts = [message]
        if status is not None:
            parts.append(f"HTTP {status}")
        if url:
            parts.append(f"url {url}")
        if request_id:
            parts.append(f"request id {request_id}")
        super().__init__(" — ".join(parts) if len(parts) > 1 else message)


class RetryableHTTPError(HTTPError):
    """A response worth retrying (429, 408, 5xx); ``retry_after`` is the server's hint."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class URLExpiredError(HTTPError):
    """A signed URL was rejected (401/403/410): it must be re-signed, not retried."""


class PartError(StreamerError):
    """A part could not be streamed completely and consistently."""

    def __init__(self, part: str, message: str) -> None:
        self.part = part
        super().__init__(f"{part}: {message}")


class PartChangedError(PartError):
    """The file changed between two requests (ETag differs): resuming would mix versions."""


class SizeMismatchError(PartError):
    """The bytes served differ from the size the export announced."""


class RowCountMismatchError(PartError):
    """The rows in a file differ from the row count the export announced."""

    def __init__(self, part: str, message: str, *, expected: int, actual: int) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(part, message)


class DecodeError(StreamerError):
    """A line or row that cannot be decoded; carries its exact location."""

    def __init__(
        self, reason: str, *, part: str, line: int, offset: int, snippet: bytes = b""
    ) -> None:
        self.reason = reason
        self.part = part
        self.line = line
        self.offset = offset
        self.snippet = snippet
        shown = snippet[:120].decode("utf-8", "replace")
        more = "…" if len(snippet) > 120 else ""
        super().__init__(
            f"{part}, line {line}, byte offset {offset}: {reason}"
            + (f" — {shown!r}{more}" if snippet else "")
        )


class RecordRefusedError(DecodeError):
    """A valid record that the sink's backend cannot store (PostgreSQL and ``\\u0000``).

    It follows the bad-line policy: under ``fail`` the run stops with the
    record's part, line and byte offset; under ``skip`` it is dead-lettered.
    """


class RecordsRefusedError(StreamerError):
    """A sink refused some records of a batch and stored none of it.

    ``refused`` pairs each refused record with its :class:`RecordRefusedError`;
    the engine applies the bad-line policy to them and writes the batch again
    without them.
    """

    def __init__(self, refused: list[tuple[Any, RecordRefusedError]]) -> None:
        self.refused = refused
        more = f" (and {len(refused) - 1} more records of the batch)" if len(refused) > 1 else ""
        super().__init__(f"{refused[0][1]}{more}")


class LineTooLongError(DecodeError):
    """A line exceeded ``max_line_bytes``; raised whatever the bad-line policy."""


class ExportError(StreamerError):
    """The vendor reported the export as failed, expired or otherwise unusable."""


class ExportTimeoutError(ExportError):
    """An export stayed pending/processing past the configured deadline."""


class ExportFailedError(ExportError):
    """The vendor says the export itself failed: it has no files to stream."""


def describe_exception(exc: BaseException) -> str:
    """``Type: message`` of a foreign exception for a one-line error, the type alone when the message
    is empty (``TimeoutError()`` says nothing else)."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages ("array", not "list")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {dict: "object", list: "array", str: "string"}.get(type(value), "number")
