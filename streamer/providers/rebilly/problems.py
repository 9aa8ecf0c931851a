"""Rebilly's RFC 7807 problem bodies → one clear error line.

Rebilly answers failures with ``application/problem+json`` (or JSON) objects:
``type``, ``title``, ``detail``, ``status`` and, for validation failures
(422), ``invalidFields: [{field, message}]``; a ``data-export-limit-exceeded``
problem adds ``matchedRecords`` and ``maxRecords``.  All of that belongs in
the error a user reads, so it is spelled out instead of "HTTP 422".  Which
statuses are retried is the shared policy of :mod:`streamer.http.responses`.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from streamer.errors import HTTPError, RetryableHTTPError
from streamer.http.redact import redact_text, redact_url
from streamer.http.responses import RETRYABLE, one_line, read_error_body, request_id_of, retry_after_of


MAX_PROBLEM_TEXT = 2000
"""A problem's message with every invalid field it lists, on one line, is cut here (a plain message at 300)."""


def problem_text(problem: Any) -> str | None:
    """``title: detail [type] — invalid fields: a: why; b: why`` from a problem object."""
    if not isinstance(problem, dict):
        return None
    pieces: list[str] = []
    title, detail = problem.get("title"), problem.get("detail") or problem.get("error")
    head = str(title) if title else ""
    if detail and detail != title:
        head = f"{head}: {detail}" if head else str(detail)
    if head:
        pieces.append(head)
    kind = problem.get("type")
    if kind and kind != "about:blank":
        pieces[-1:] = [f"{pieces[-1]} [{kind}]" if pieces else f"[{kind}]"]
    fields = problem.get("invalidFields")
    if isinstance(fields, list) and fields:
        shown = "; ".join(
            f"{f.get('field', '?')}: {f.get('message', 'invalid')}" if isinstance(f, dict) else str(f)
            for f in fields
        )
        pieces.append(f"invalid fields: {shown}")
    if "matchedRecords" in problem or "maxRecords" in problem:
        pieces.append(
            f"the export matches {problem.get('matchedRecords', '?')} records, "
            f"the limit is {problem.get('maxRecords', '?')}; narrow the date range or filter"
        )
    return " — ".join(pieces) or None


async def raise_for_problem(response: aiohttp.ClientResponse, *, what: str) -> None:
    """Raise :class:`HTTPError` (or :class:`RetryableHTTPError`) unless the status is 2xx."""
    status = response.status
    if 200 <= status < 300:
        return
    body = await read_error_body(response)
    try:
        problem: Any = orjson.loads(body)  # an empty body is no JSON either
    except orjson.JSONDecodeError:
        problem = None
    message = one_line(problem_text(problem) or "", limit=MAX_PROBLEM_TEXT)
    if message is None and body:
        message = one_line(body.decode("utf-8", "replace"))
    kwargs: dict[str, Any] = dict(
        status=status,
        request_id=request_id_of(response.headers, problem),
        url=redact_url(str(response.url)),
        details=problem,
    )
    text = redact_text(f"{what} failed" + (f": {message}" if message else ""))
    if status in RETRYABLE:
        raise RetryableHTTPError(text, retry_after=retry_after_of(response.headers), **kwargs)
    raise HTTPError(text, **kwargs)
