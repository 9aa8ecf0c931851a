"""The simulator's HTTP server: export files over real HTTP (with Content-Length) on 127.0.0.1.

Vendor APIs (Mews, LogiSense, Rebilly) are added as route modules on
:attr:`Simulator.app`; this module owns what they share: the exports and
their generated files, signed expiring URLs, ``Range``/``If-Range``, gzip
(as ``.jsonl.gz`` files and as ``Content-Encoding``), and the fault plan.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web

from streamer.simulator.content import PartContent
from streamer.simulator.faults import FaultPlan
from streamer.simulator.signing import UrlSigner, s3_error_xml

_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


@dataclass
class SimExport:
    id: str
    entity_type: str
    files: list[PartContent]
    gzip: bool = False
    created: float = field(default_factory=time.monotonic)
    vendor: dict[str, Any] = field(default_factory=dict)
    """Vendor-specific state (status timeline, scope, …) kept by the API modules."""

    @property
    def records(self) -> int:
        return sum(f.good_records for f in self.files)

    def ids(self) -> list[str]:
        return [i for f in self.files for i in f.ids()]

    def file_name(self, index: int) -> str:
        return f"part-{index:04d}.jsonl" + (".gz" if self.gzip else "")

    def file_size(self, index: int) -> int:
        f = self.files[index]
        return f.gzip_size if self.gzip else f.size


class Simulator:
    """Serves exports on 127.0.0.1; ``async with Simulator() as sim: sim.base_url``."""

    def __init__(
        self,
        *,
        seed: int = 0,
        url_ttl: float = 600.0,
        faults: FaultPlan | None = None,
        content_encoding: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.seed = seed
        self.url_ttl = url_ttl
        self.faults = faults or FaultPlan(seed=seed)
        self.content_encoding = content_encoding
        self.host = host
        self.port = port
        self.exports: dict[str, SimExport] = {}
        self.signer = UrlSigner(secrets.token_bytes(32))
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        """(method, path, selected headers) of every request, for tests."""
        self.app = web.Application(middlewares=[self._record_request])
        self.app.router.add_get("/", self._index)
        self.app.router.add_get("/files/{export_id}/{name}", self._file)
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self._tags = 0

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = site._server.sockets  # type: ignore[union-attr]
        self.port = sockets[0].getsockname()[1]
        self.base_url = f"http://{self.host}:{self.port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -------------------------------------------------------------- exports

    def add_export(
        self,
        entity_type: str = "OrderItem",
        *,
        records: int = 1000,
        parts: int = 1,
        gzip: bool = False,
        export_id: str | None = None,
        enterprises: list[str] | None = None,
        corrupt: dict[int, set[int]] | None = None,
        bom: bool = False,
        crlf: bool = False,
        updated: tuple[datetime, datetime] | None = None,
        updated_field: str = "UpdatedUtc",
    ) -> SimExport:
        """Create an export of ``records`` records split evenly over ``parts`` files.

        ``updated``: a change filter; only the records whose ``updated_field``
        lies in it are in the files (``records`` counts them before filtering).
        """
        if parts < 1 or records < 0:
            raise ValueError("an export needs at least one part and a non-negative record count")
        tag = self._next_tag()
        per_part, extra = divmod(records, parts)
        files = [
            PartContent(
                entity_type=entity_type,
                records=per_part + (1 if i < extra else 0),
                part_index=i,
                export_tag=tag,
                seed=self.seed + self._tags,
                enterprises=enterprises,
                corrupt=frozenset((corrupt or {}).get(i, ())),
                bom=bom,
                crlf=crlf,
                updated=updated,
                updated_field=updated_field,
            )
            for i in range(parts)
        ]
        export = SimExport(export_id or str(uuid.uuid4()), entity_type, files, gzip)
        self.exports[export.id] = export
        return export

    def regenerate_file(self, export: SimExport, index: int) -> None:
        """The vendor rewrites file ``index`` in place: same URL and size, other records, new ETag."""
        old = export.files[index]
        export.files[index] = PartContent(
            entity_type=old.entity_type,
            records=old.records,
            part_index=index,
            export_tag=self._next_tag(),
            seed=self.seed + self._tags,
            updated=old.updated,
        )

    def _next_tag(self) -> int:
        """A new export tag (it prefixes every record Id): distinct per export or regenerated file."""
        self._tags += 1
        return (self.seed * 7919 + self._tags) & 0xFFFFFFFF

    def file_url(self, export: SimExport, index: int, ttl: float | None = None) -> str:
        path = f"/files/{export.id}/{export.file_name(index)}"
        return f"{self.base_url}{path}?{self.signer.query(path, self.url_ttl if ttl is None else ttl)}"

    def file_urls(self, export: SimExport, ttl: float | None = None) -> list[str]:
        return [self.file_url(export, i, ttl) for i in range(len(export.files))]

    @property
    def total_records(self) -> int:
        return sum(e.records for e in self.exports.values())

    # ------------------------------------------------------------- handlers

    @web.middleware
    async def _record_request(self, request: web.Request, handler: Any) -> web.StreamResponse:
        keep = {k: v for k, v in request.headers.items() if k in ("Range", "If-Range", "Accept-Encoding")}
        self.requests.append((request.method, request.path, keep))
        return await handler(request)

    async def _index(self, request: web.Request) -> web.Response:
        """Every export with fresh signed links (a convenience of the simulator)."""
        body = {
            "Exports": [
                {
                    "Id": e.id,
                    "EntityType": e.entity_type,
                    "Records": e.records,
                    "Files": [
                        {"Url": self.file_url(e, i), "SizeInBytes": e.file_size(i)}
                        for i in range(len(e.files))
                    ],
                }
                for e in self.exports.values()
            ]
        }
        return web.json_response(body, dumps=lambda o: orjson.dumps(o).decode())

    def fault_response(self) -> web.Response | None:
        """A 429/503 by the fault plan's rates (vendor API modules call this too)."""
        status = self.faults.roll_status()
        if status is None:
            return None
        headers = {"Retry-After": f"{self.faults.retry_after:g}"} if status == 429 else {}
        return web.Response(status=status, text="simulated failure", headers=headers)

    def check_signature(self, request: web.Request) -> web.Response | None:
        """S3's own 403 for an unsigned, forged or expired link; ``None`` when it is valid."""
        problem = self.signer.check(request.path, request.query.get("expires"), request.query.get("sig"))
        if not problem:
            return None
        request_id = uuid.uuid4().hex
        code, message = problem.split("|", 1)
        return web.Response(
            status=403,
            body=s3_error_xml(code, message, request_id),
            content_type="application/xml",
            headers={"x-amz-request-id": request_id},
        )

    def file_response(
        self, request: web.Request, *, size: int, etag: str, content_type: str, chunked: bool = False
    ) -> tuple[web.StreamResponse, int, int]:
        """The response head for a GET of a file, honouring ``Range`` and ``If-Range``.

        Returns the response (200, 206 or 416) and the byte range to send.
        A stored file's answer carries its ``Content-Length``, as object stores
        send it (a progress bar's total from the first response); ``chunked``
        is for bytes encoded on the fly, whose length a server cannot know.
        """
        start, end, status = 0, size, 200
        match = _RANGE.fullmatch(request.headers.get("Range", "").strip())
        if_range = request.headers.get("If-Range")
        if match and not self.faults.ignore_range and (if_range is None or if_range == etag):
            start = int(match.group(1))
            if match.group(2):
                end = min(size, int(match.group(2)) + 1)
            if start >= size:
                return web.Response(status=416, headers={"Content-Range": f"bytes */{size}"}), 0, 0
            status = 206
        response = web.StreamResponse(status=status)
        response.content_type = content_type
        response.headers["ETag"] = etag
        response.headers["Accept-Ranges"] = "bytes"
        response.headers["x-amz-request-id"] = uuid.uuid4().hex
        if status == 206:
            response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        if chunked or self.faults.chunked:
            response.enable_chunked_encoding()
        else:
            response.content_length = end - start
        return response, start, end

    async def send_file(
        self, request: web.Request, response: web.StreamResponse, key: str, pieces: Any, start: int
    ) -> web.StreamResponse:
        """Send ``pieces`` (bytes from ``start`` on) through the fault plan; quiet if the client leaves."""
        if response.prepared or isinstance(response, web.Response):
            return response
        try:
            await response.prepare(request)
            await self._send(request, response, key, pieces, start)
        except ConnectionResetError:
            pass  # the client went away (cancelled run, `| head`): nothing to report
        return response

    async def _file(self, request: web.Request) -> web.StreamResponse:
        if (rejected := self.check_signature(request)) is not None:
            return rejected
        if (failure := self.fault_response()) is not None:
            return failure
        export = self.exports.get(request.match_info["export_id"])
        name = request.match_info["name"]
        index = _file_index(name)
        if export is None or index is None or index >= len(export.files) or name != export.file_name(index):
            return web.Response(status=404, text="no such file")
        key = f"{export.id}/{index}"
        content = export.files[index]

        if self.faults.html(key):
            return web.Response(
                status=200,
                text="<!DOCTYPE html><html><body><h1>Service temporarily unavailable</h1></body></html>",
                content_type="text/html",
            )

        encoded = export.gzip or (
            self.content_encoding and "gzip" in request.headers.get("Accept-Encoding", "")
        )
        size = (content.gzip_size if encoded else content.size) - self.faults.shortfall(key)
        produce = content.iter_gzip if encoded else content.iter_plain
        response, start, end = self.file_response(
            request,
            size=size,
            etag=f'"{export.id[:8]}-{index}-{content.export_tag:x}-{"gz" if encoded else "id"}"',
            content_type="application/gzip" if export.gzip else "application/x-ndjson",
            chunked=encoded and not export.gzip,  # gzip as Content-Encoding: compressed while sent
        )
        if not export.gzip and self.content_encoding:
            response.headers["Vary"] = "Accept-Encoding"
            if encoded:
                response.headers["Content-Encoding"] = "gzip"
        if isinstance(response, web.Response):
            return response
        return await self.send_file(request, response, key, produce(start, end), start)

    async def _send(
        self, request: web.Request, response: web.StreamResponse, key: str, pieces: Any, start: int
    ) -> None:
        faults = self.faults
        pos = start
        for piece in pieces:
            end = pos + len(piece)
            cut = faults.cut_point(key, pos, end)
            if cut is not None:
                await response.write(piece[: cut - pos])
                await asyncio.sleep(0.01)  # let the partial bytes leave before the reset
                assert request.transport is not None
                request.transport.abort()
                raise asyncio.CancelledError  # stop the handler without writing the chunk terminator
            stall = faults.stall_point(key, pos, end)
            if stall is not None:
                await response.write(piece[: stall - pos])
                await asyncio.sleep(faults.stall_seconds)
            if faults.bytes_per_second:
                await asyncio.sleep(len(piece) / faults.bytes_per_second)
            await response.write(piece)
            pos = end
        await response.write_eof()


def _file_index(name: str) -> int | None:
    match = re.fullmatch(r"part-(\d{4})\.jsonl(\.gz)?", name)
    return int(match.group(1)) if match else None
