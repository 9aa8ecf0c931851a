"""Where a part's bytes come from: an HTTP response, or a local file answering like one.

Both give the downloader the same :class:`Answer` — a status, headers and
an async iterator of raw chunks — so a local file goes through the same
checks (:mod:`streamer.engine.validation`), byte stages and checkpoints as a
download.  A local file answers ``Range`` the way an honest server would
(206 from the offset, 416 past the end) and carries an ETag made of its size
and modification time, so a file rewritten since a checkpoint is refused
instead of spliced.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiohttp
import anyio

from streamer.errors import PartError
from streamer.files import LOCAL_HOSTS
from streamer.http.redact import redact_url
from streamer.http.responses import raise_for_response
from streamer.redaction import redact_broken_url

LOCAL_CHUNK = 1 << 18
"""Bytes per read of a local file: aiohttp's read buffer, so batches close as often."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    chunks: AsyncIterator[bytes]
    where: str
    """For messages: the redacted URL or the path."""


def local_path(url: str, label: str) -> Path | None:
    """The path of a ``file://`` URL (``None`` for any other URL).

    ``file://otherhost/path`` names a file on another machine: reading the
    local ``/path`` instead would stream the wrong data, so it is refused.
    """
    parts = urlsplit(url)
    if parts.scheme != "file":
        return None
    if parts.netloc.lower() not in LOCAL_HOSTS:
        raise PartError(label, f"file URL names host {parts.netloc!r}: only local files (file:///path) are read")
    return Path(unquote(parts.path))


@contextlib.asynccontextmanager
async def http_answer(
    session: aiohttp.ClientSession, url: str, headers: Mapping[str, str], label: str
) -> AsyncIterator[Answer]:
    """GET ``url``; an unsuccessful status becomes its exception (a 416 to a Range is an answer).

    A redirect loop is the server's answer too, and final: retrying it only loops again.
    """
    try:
        async with session.get(url, headers=headers) as response:
            if not (response.status == 416 and "Range" in headers):
                await raise_for_response(response, what=label, signed_url=True)
            yield Answer(response.status, response.headers, response.content.iter_any(), redact_url(str(response.url)))
    except aiohttp.TooManyRedirects as exc:
        last = redact_url(str(exc.request_info.real_url))
        raise PartError(label, f"too many redirects ({len(exc.history)}; the last to {last})") from None
    except aiohttp.InvalidURL as exc:  # no host, a port out of range, a broken IPv6 address: final, not transient
        why = f" ({exc.description})" if exc.description else ""
        raise PartError(label, f"URL {redact_broken_url(str(exc.url))} is not a valid address{why}") from None


@contextlib.asynccontextmanager
async def file_answer(path: Path, offset: int, label: str) -> AsyncIterator[Answer]:
    """Read ``path`` from byte ``offset`` as an honest server would serve it."""
    try:
        file = await anyio.open_file(path, "rb")
    except FileNotFoundError:
        raise PartError(label, f"no such file: {path}") from None
    except OSError as exc:
        raise PartError(label, f"cannot read {path}: {exc.strerror or exc}") from None
    async with file:
        stat = os.fstat(file.wrapped.fileno())
        size = stat.st_size
        headers = {"ETag": f'"{size:x}-{stat.st_mtime_ns:x}"'}
        if offset and offset >= size:
            yield Answer(416, {"Content-Range": f"bytes */{size}"}, _nothing(), str(path))
            return
        headers["Content-Length"] = str(size - offset)
        if offset:
            headers["Content-Range"] = f"bytes {offset}-{size - 1}/{size}"
            await file.seek(offset)
        yield Answer(206 if offset else 200, headers, _read(file), str(path))


async def _read(file: anyio.AsyncFile[bytes]) -> AsyncIterator[bytes]:
    while chunk := await file.read(LOCAL_CHUNK):
        yield chunk


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield  # an async generator that yields nothing
