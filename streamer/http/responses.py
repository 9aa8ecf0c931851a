"""Turn an unsuccessful response into the right exception, with its request id.

One place decides what is retried (408, 425, 429, 5xx), what means "re-sign
the URL" (401/403/410 on a signed download), and what is final, so the data
plane and every provider agree.
"""

from __future__ import annotations

import email.utils
import html
import re
import time
from collections.abc import Mapping
from datetime import datetime, timezone

import aiohttp
import orjson

from streamer.errors import HTTPError, RetryableHTTPError, URLExpiredError
from streamer.http.redact import redact_text, redact_url

REQUEST_ID_HEADERS = (
    "Request-Id",
    "X-Request-Id",
    "x-amz-request-id",
    "X-Tracking-Id",
    "X-Amzn-RequestId",
)
RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})
EXPIRED = frozenset({401, 403, 410})


def request_id_of(headers: Mapping[str, str], body: object = None) -> str | None:
    for name in REQUEST_ID_HEADERS:
        if value := headers.get(name):
            return value
    if isinstance(body, dict):
        for key in ("RequestId", "requestId", "trackingId", "TrackingId"):
            if value := body.get(key):
                return str(value)
    return None


def retry_after_of(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP date) or
    ``X-RateLimit-Retry-After`` (a timestamp, Rebilly: epoch seconds or ISO 8601)."""
    now = time.time() if now is None else now
    value = headers.get("Retry-After")
    if value:
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return max(0.0, when.timestamp() - now)
    value = headers.get("X-RateLimit-Retry-After")
    if value:
        if value.strip().isdigit():  # Rebilly's spec: an integer UTC epoch timestamp
            return max(0.0, float(value.strip()) - now)
        try:
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return max(0.0, when.timestamp() - now)
    return None


MAX_ERROR_BODY = 64 * 1024
"""Bytes of an error answer read for its message: a misbehaving server's 1 GB error page stays on the wire."""
MAX_MESSAGE = 300
_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def error_message_of(body: bytes) -> tuple[str | None, object]:
    """The vendor's human message and details from a JSON or XML error body, as one line.

    Errors are one line each (a log line, a CLI's last word): a message is cut to
    ``MAX_MESSAGE`` characters with its runs of whitespace, newlines included, made one space.
    """
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        if text.startswith("<") and "<Message>" in text:  # S3-style XML error
            return one_line(text.split("<Message>", 1)[1].split("</Message>", 1)[0]), None
        if text[:512].lower().lstrip().startswith(("<!doctype html", "<html")) or "<body" in text[:2048].lower():
            title = _HTML_TITLE.search(text)  # an error page: its title, never the page
            return (one_line(html.unescape(title.group(1))) if title else "an HTML page"), None
        return one_line(text), None
    if isinstance(doc, dict):
        for key in ("Message", "message", "detail", "title", "error", "error_description"):
            if isinstance(doc.get(key), str):
                details = doc.get("Details") or doc.get("details") or doc.get("invalidFields")
                return one_line(doc[key]), details
    return None, doc


def one_line(text: str, limit: int = MAX_MESSAGE) -> str | None:
    """``text`` as one line of at most ``limit`` characters (``None`` if blank)."""
    return " ".join(text[: limit * 2].split())[:limit] or None


async def read_error_body(response: aiohttp.ClientResponse) -> bytes:
    """The first ``MAX_ERROR_BODY`` bytes of an error answer (its message is at the start)."""
    body = bytearray()
    async for chunk in response.content.iter_chunked(MAX_ERROR_BODY):
        body += chunk
        if len(body) >= MAX_ERROR_BODY:
            break
    return bytes(body[:MAX_ERROR_BODY])


async def raise_for_response(
    response: aiohttp.ClientResponse,
    *,
    what: str,
    signed_url: bool = False,
) -> None:
    """Raise the matching :class:`~streamer.errors.HTTPError` unless the status is 2xx.

    ``what`` says which operation failed ("exports/getAll", "OrderItem part 3").
    ``signed_url`` marks downloads whose 401/403/410 mean an expired link.
    """
    status = response.status
    if 200 <= status < 300:
        return
    body = await read_error_body(response)
    message, details = error_message_of(body)
    kwargs = dict(
        status=status,
        request_id=request_id_of(response.headers, _maybe_json(body)),
        url=redact_url(str(response.url)),
        details=details,
    )
    text = redact_text(f"{what} failed" + (f": {message}" if message else ""))
    if status in RETRYABLE:
        raise RetryableHTTPError(text, retry_after=retry_after_of(response.headers), **kwargs)
    if signed_url and status in EXPIRED:
        raise URLExpiredError(text, **kwargs)
    raise HTTPError(text, **kwargs)


def _maybe_json(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def announced_size(response: aiohttp.ClientResponse) -> int | None:
    """The whole stored body's size a response announces (Content-Range total or Content-Length)."""
    if response.status == 206:
        total = response.headers.get("Content-Range", "").rpartition("/")[2].strip()
        return int(total) if total.isdigit() else None
    length = response.headers.get("Content-Length", "")
    return int(length) if response.status == 200 and length.isdigit() else None
