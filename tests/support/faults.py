"""Helpers for the fault-injection suite (tests/faults): sources over the simulator,
output readers, exactly-once assertions, and a tiny server for hand-made bytes."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web

from streamer.records import Batch, Part, PartInfo
from streamer.sinks.jsonl import JsonlSink
from streamer.simulator import SimExport, Simulator
from tests.support.local_server import serve_locally


class SimSource:
    """Every file of ``exports`` as a part, with signed URLs that can be re-signed.

    ``url_ttl`` signs every URL with that lifetime; ``tell_ttl`` says whether
    the engine is told about it (proactive refresh) or must discover the
    expiry from a 403 (reactive refresh).
    """

    name = "sim"

    def __init__(
        self,
        sim: Simulator,
        exports: Sequence[SimExport],
        *,
        url_ttl: float | None = None,
        tell_ttl: bool = True,
        refresh: bool = True,
        sizes: Mapping[str, int] | None = None,
    ) -> None:
        self.sim = sim
        self.exports = list(exports)
        self.url_ttl = url_ttl
        self.tell_ttl = tell_ttl
        self.refresh = refresh
        self.sizes = dict(sizes or {})
        self.refreshes = 0

    async def parts(self, session: aiohttp.ClientSession) -> AsyncIterator[Part]:
        for export in self.exports:
            for i in range(len(export.files)):
                key = f"{export.id}/{i}"
                yield Part(
                    info=PartInfo(
                        source=self.name,
                        index=i,
                        entity_type=export.entity_type,
                        export_id=export.id,
                        name=export.file_name(i),
                    ),
                    url=self.sim.file_url(export, i, self.url_ttl),
                    size=self.sizes.get(key, export.file_size(i)),
                    refresh=self._refresher(export, i) if self.refresh else None,
                    url_ttl=self.url_ttl if self.tell_ttl else None,
                    url_issued_at=time.monotonic(),
                )

    def _refresher(self, export: SimExport, index: int):  # type: ignore[no-untyped-def]
        async def refresh() -> str:
            self.refreshes += 1
            return self.sim.file_url(export, index, self.url_ttl)

        return refresh


def expected_ids(exports: Iterable[SimExport]) -> list[str]:
    return [i for export in exports for i in export.ids()]


def ids_in_file(path: Path) -> list[str]:
    """Ids of every line of a JSONL output file (a torn last line fails the test)."""
    if not path.exists():
        return []
    return [orjson.loads(line)["Id"] for line in path.read_bytes().splitlines() if line]


def assert_exactly_once(got: Sequence[str], expected: Sequence[str], context: str = "") -> None:
    counts = collections.Counter(got)
    duplicated = {k: n for k, n in counts.items() if n > 1}
    missing = set(expected) - set(counts)
    extra = set(counts) - set(expected)
    where = f" ({context})" if context else ""
    assert not duplicated, f"{len(duplicated)} records delivered more than once{where}: {list(duplicated)[:5]}"
    assert not missing, f"{len(missing)} records lost{where}: {sorted(missing)[:5]}"
    assert not extra, f"{len(extra)} unexpected records{where}: {sorted(extra)[:5]}"
    assert len(got) == len(expected)


def assert_at_least_once(got: Sequence[str], expected: Sequence[str], context: str = "") -> None:
    missing = set(expected) - set(got)
    assert not missing, f"{len(missing)} records lost ({context}): {sorted(missing)[:5]}"
    assert set(got) <= set(expected)


@contextlib.asynccontextmanager
async def serve_bytes(
    files: Mapping[str, bytes],
    *,
    chunk: int = 7,
    content_type: str = "application/x-ndjson",
    pause: float = 0.0,
) -> AsyncIterator[str]:
    """Serve ``files`` (name → body) on 127.0.0.1 in ``chunk``-byte writes (``pause``
    seconds apart, so they arrive as separate reads); yield the base URL."""

    async def handler(request: web.Request) -> web.StreamResponse:
        body = files.get(request.match_info["name"])
        if body is None:
            return web.Response(status=404)
        response = web.StreamResponse()
        response.content_type = content_type
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(body), chunk):
            await response.write(body[start : start + chunk])
            if pause:
                await asyncio.sleep(pause)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/{name}", handler)
    async with serve_locally(app, shutdown_timeout=0.2) as base_url:
        yield base_url


class SinkDied(Exception):
    pass


class DyingFileSink(JsonlSink):
    """A JSONL file sink that dies at write number ``die_at``, before or after writing it.

    With ``die_by_part_end`` it dies at the latest at the first part-ending
    batch from the second write on: a run with at least two parts then always
    crashes, after at least one acknowledged batch, whatever its batch count.
    """

    def __init__(self, path, *, die_at: int, after_write: bool, die_by_part_end: bool = False) -> None:
        super().__init__(path)
        self.die_at = die_at
        self.after_write = after_write
        self.die_by_part_end = die_by_part_end
        self.writes = 0
        self.written: list[Batch] = []

    def _dies(self, batch: Batch) -> bool:
        if self.writes == self.die_at:
            return True
        return self.die_by_part_end and self.writes >= 2 and batch.checkpoint.done

    async def write(self, batch: Batch) -> None:
        self.writes += 1
        dies = self._dies(batch)
        if dies and not self.after_write:
            raise SinkDied(f"disk full at batch {self.writes}")
        await super().write(batch)
        if dies:
            raise SinkDied(f"killed after writing batch {self.writes}")
        self.written.append(batch)
