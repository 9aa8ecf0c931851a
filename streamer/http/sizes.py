"""A stored file's size, asked before its download: one cheap request per URL.

``GET`` with ``Range: bytes=0-0`` and ``Accept-Encoding: identity`` rather
than ``HEAD``: presigned S3 GET links refuse ``HEAD`` (the signature covers
the method), and some servers answer ``HEAD`` with a body.  At most one byte
is read; a server that ignores ``Range`` is cut off after its headers.  The
size is the ``Content-Range`` total of a 206, or the ``Content-Length`` of a
200 (:func:`~streamer.http.responses.announced_size`).

``streamer check urls`` lists these sizes; :class:`~streamer.providers.urls.UrlSource`
asks them, bounded by a timeout, so a progress bar has its total from the
first byte.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aiohttp
import anyio

from streamer.http.responses import announced_size


async def probe_size(session: aiohttp.ClientSession, url: str, headers: Mapping[str, str]) -> tuple[int, int | None]:
    """(status, size of the stored body) of ``url``, reading at most one byte of it."""
    ranged = {**headers, "Range": "bytes=0-0", "Accept-Encoding": "identity"}
    async with session.get(url, headers=ranged) as response:
        size = announced_size(response)
        response.close()  # a server that ignored Range is not read any further
        return response.status, size


async def probe_sizes(
    session: aiohttp.ClientSession, urls: Sequence[str], headers: Mapping[str, str], *, timeout: float,
    limit: int = 8,
) -> list[int | None]:
    """Each URL's size, asked ``limit`` at a time; ``None`` where unknown after ``timeout`` seconds in all.

    Never fails: a refused, failed or late probe only leaves that size
    unknown (the download's first response still says it), so a run is never
    delayed by more than ``timeout``.
    """
    sizes: list[int | None] = [None] * len(urls)
    gate = anyio.Semaphore(limit)

    async def one(index: int) -> None:
        async with gate:
            try:
                status, size = await probe_size(session, urls[index], headers)
            except (aiohttp.ClientError, OSError, ValueError):
                return
            if status in (200, 206):
                sizes[index] = size

    with anyio.move_on_after(timeout):
        async with anyio.create_task_group() as tg:
            for index in range(len(urls)):
                tg.start_soon(one, index)
    return sizes
