"""A local HTTP server that answers each request from a script of :class:`Reply` values.

Request ``n`` of a file gets ``script[n]`` (the last one repeats), so a test
says "the first answer breaks at byte K, the second resumes at the wrong
place" in one line.  Header values may use ``{asked}`` (the requested Range
start), ``{total}`` (the served file's length) and ``{start}``/``{last}``
(the served span); ``None`` removes a default header.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field

from aiohttp import web

from tests.support.local_server import serve_locally

LAST_MODIFIED = "Wed, 02 Dec 2026 01:00:00 GMT"
_RANGE = re.compile(r"bytes=(\d+)-")


@dataclass(frozen=True)
class Reply:
    status: int | None = None
    """``None``: 206 to a Range request (416 past the end), else 200."""
    headers: Mapping[str, str | None] = field(default_factory=dict)
    body: bytes | None = None
    """Serve another file than the test's (a new version)."""
    start: int | None = None
    """First byte a 206 sends (default: the requested one)."""
    last: int | None = None
    """Last byte a 206 announces and sends (default: the file's last)."""
    stop: int | None = None
    """Send up to this absolute byte, then end: cleanly (chunked) or, with ``abort``, by a reset."""
    abort: bool = False
    sized: bool = True
    """Send Content-Length (else chunked transfer encoding)."""
    extra: bytes = b""
    """Bytes sent after the span (a body longer than it says, trailing garbage)."""
    trickle_from: int | None = None
    """From this absolute byte on, send one byte every ``trickle`` seconds."""
    trickle: float = 0.05


@dataclass
class Script:
    body: bytes
    replies: Sequence[Reply] = (Reply(),)
    content_type: str | None = "application/x-ndjson"


class LiarServer:
    def __init__(self, files: Mapping[str, Script]) -> None:
        self.files = dict(files)
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._count: collections.Counter[str] = collections.Counter()
        self.base_url = ""

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        script = self.files[name]
        n = self._count[name]
        self._count[name] += 1
        self.requests.append((name, dict(request.headers)))
        reply = script.replies[min(n, len(script.replies) - 1)]
        body = script.body if reply.body is None else reply.body
        match = _RANGE.fullmatch(request.headers.get("Range", ""))
        asked = int(match.group(1)) if match else None
        total = len(body)
        status = reply.status or (206 if asked is not None else 200)
        if reply.status is None and asked is not None and asked >= total:
            status = 416
        start = (reply.start if reply.start is not None else asked or 0) if status == 206 else 0
        last = reply.last if reply.last is not None else total - 1
        headers: dict[str, str | None] = {
            "ETag": '"v1"',
            "Last-Modified": LAST_MODIFIED,
            "Accept-Ranges": "bytes",
            "Content-Type": script.content_type,
        }
        if status == 206:
            headers["Content-Range"] = "bytes {start}-{last}/{total}"
        elif status == 416:
            headers = {"Content-Range": "bytes */{total}"}
        headers.update(reply.headers)
        values = {"asked": asked, "total": total, "start": start, "last": last}
        response = web.StreamResponse(
            status=status, headers={k: v.format(**values) for k, v in headers.items() if v is not None}
        )
        if status == 416:
            response.content_length = 0
            await response.prepare(request)
            return response
        payload = body[start : last + 1] + reply.extra
        cut = len(payload) if reply.stop is None else reply.stop - start
        if reply.sized and (reply.stop is None or reply.abort):
            response.content_length = len(payload)
        else:
            response.enable_chunked_encoding()
        with contextlib.suppress(ConnectionError):
            await response.prepare(request)
            slow = len(payload) if reply.trickle_from is None else max(0, reply.trickle_from - start)
            await response.write(payload[: min(cut, slow)])
            for i in range(slow, cut):
                await asyncio.sleep(reply.trickle)
                await response.write(payload[i : i + 1])
            if reply.abort:
                assert request.transport is not None
                request.transport.close()
                return response
            await response.write_eof()
        return response


@contextlib.asynccontextmanager
async def liar_server(files: Mapping[str, Script]) -> AsyncIterator[LiarServer]:
    server = LiarServer(files)
    app = web.Application()
    app.router.add_get("/{name}", server._handle)
    async with serve_locally(app, shutdown_timeout=0.1) as base_url:
        server.base_url = base_url
        yield server

