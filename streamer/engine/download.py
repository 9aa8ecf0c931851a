"""Stream one part into batches, resuming across dropped connections.

The downloader keeps, across requests, everything it has already consumed:
the raw byte count, the gunzip state and the decoder's held-over partial line.
A retry therefore asks for ``Range: bytes=<raw bytes received>-`` and carries
on feeding exactly where the broken response stopped: no record is re-read,
none is skipped, and a partial line is never parsed twice.

Resuming from a *checkpoint* (another process, after a crash) only knows the
decoded offset of the last delivered line and the file's ETag: plain parts
restart there with ``Range`` + ``If-Range``; compressed parts are re-read from
the start and the already delivered bytes are skipped after decompression.
Either way a file whose ETag changed is refused, never spliced.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from urllib.parse import urlsplit

import aiohttp

from streamer.decoding.badlines import BadLines
from streamer.decoding.base import make_decoder
from streamer.decoding.gzip import GZIP_MAGIC, GunzipStream
from streamer.engine.config import StreamConfig
from streamer.engine.stats import PartStats, RunStats
from streamer.errors import (
    HTTPError,
    PartChangedError,
    PartError,
    SizeMismatchError,
    StreamerError,
    URLExpiredError,
)
from streamer.http.redact import redact_url
from streamer.http.responses import raise_for_response
from streamer.http.retry import TRANSIENT_ERRORS
from streamer.records import Batch, Checkpoint, Part, Record
from streamer.state.scrub import scrub_text

log = logging.getLogger("streamer.download")

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
HTML_TYPES = ("text/html", "application/xhtml")


class IncompleteBody(StreamerError):
    """The body ended early without a transport error (retried with ``Range``)."""


Emit = Callable[[Batch], Awaitable[None]]


class PartDownload:
    """Downloads, decodes and emits one part; one instance per part per run."""

    def __init__(
        self,
        part: Part,
        session: aiohttp.ClientSession,
        config: StreamConfig,
        bad_lines: BadLines,
        run_stats: RunStats,
        emit: Emit,
        start: Checkpoint | None = None,
    ) -> None:
        self.part = part
        self.info = part.info
        self.label = part.info.describe()
        self._session = session
        self._config = config
        self._emit_batch = emit
        self._run_stats = run_stats
        self.stats: PartStats = run_stats.part(part.info.key, self.label, part.size)
        self._out: list[Record] = []
        self._batch_started = 0.0

        offset, line, state = (start.offset, start.line, start.decoder_state) if start else (0, 0, None)
        self._decoder = make_decoder(
            part.format,
            part.info,
            bad_lines=bad_lines,
            max_line_bytes=config.max_line_bytes,
            offset=offset,
            line=line,
            state=state,
            options=part.decoder_options,
        )
        # Bytes of the stored representation received so far: the next Range start.
        self.raw_offset = offset if start and not start.compressed else 0
        # Decoded bytes still to drop (cold resume of a compressed part).
        self._skip = offset if start and start.compressed else 0
        self._file_gzip: GunzipStream | None = None
        self._compression_known = (
            part.compression != "auto" or _looks_gzipped(part.url) or self.raw_offset > 0
        )
        if part.compression == "gzip" or (part.compression == "auto" and _looks_gzipped(part.url)):
            self._file_gzip = GunzipStream()
        self._sniff = b""
        self._content_gzip: GunzipStream | None = None
        self._content_encoding: str | None = None  # fixed by the first response
        # The version being read; a checkpoint's (another process) holds it to If-Range.
        self._etag: str | None = start.etag if start else None
        self._must_refresh = False
        self._eof_without_progress = False

    # ----------------------------------------------------------------- driving

    async def run(self) -> None:
        """Stream the whole part, retrying transient failures, then emit the final batch."""
        retrying = self._config.retry.retrying(
            progress=lambda: self.raw_offset,
            on_retry=self._on_retry,
            retry_on=(*TRANSIENT_ERRORS, URLExpiredError, IncompleteBody),
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await self._attempt()
        except TRANSIENT_ERRORS as exc:
            if isinstance(exc, StreamerError):
                raise  # already says what and where (status, request id, redacted URL)
            # A transport error (aiohttp, timeout) outlived the retry budget: say which
            # part and where, without the signed URL an aiohttp message may carry.
            raise PartError(
                self.label,
                f"gave up at byte {self.raw_offset} after {self._config.retry.max_attempts} attempts "
                f"without progress: {scrub_text(_short(exc))}",
            ) from exc
        await self._finish()

    def _on_retry(self, exc: BaseException, delay: float) -> None:
        self.stats.retries += 1
        self._run_stats.retries += 1
        log.warning("%s: %s; resuming at byte %d in %.1fs", self.label, _short(exc), self.raw_offset, delay)

    async def _attempt(self) -> None:
        url = await self._current_url()
        headers = dict(self.part.headers)
        if self.raw_offset or self._content_encoding is not None:
            headers["Accept-Encoding"] = self._content_encoding or "identity"
        else:
            headers["Accept-Encoding"] = "gzip"
        if self.raw_offset:
            headers["Range"] = f"bytes={self.raw_offset}-"
            if self._etag and not self._etag.startswith("W/"):
                # If-Range takes strong validators only: a weak one would make every
                # resume a full 200; the ETag is still compared on the response.
                headers["If-Range"] = self._etag
        try:
            async with self._session.get(url, headers=headers) as response:
                if response.status == 416 and self.raw_offset:
                    self._range_not_satisfiable(response)
                    self._check_complete()
                    return
                await raise_for_response(response, what=self.label, signed_url=True)
                skip_raw = self._check_resume(response)
                await self._consume(response, skip_raw)
        except URLExpiredError as exc:
            if self.part.refresh is None:
                raise PartError(self.label, f"signed URL rejected and no way to re-sign it ({exc})") from exc
            self._must_refresh = True
            exc.retry_after = 0.0  # type: ignore[attr-defined]
            raise

    async def _current_url(self) -> str:
        part = self.part
        stale = (
            part.url_ttl is not None
            and part.url_issued_at is not None
            and time.monotonic() - part.url_issued_at > part.url_ttl * self._config.url_refresh_after
        )
        if part.refresh is not None and (self._must_refresh or stale):
            part.url = await part.refresh()
            part.url_issued_at = time.monotonic()
            self._must_refresh = False
            self.stats.url_refreshes += 1
            self._run_stats.url_refreshes += 1
            log.info("%s: refreshed its signed URL", self.label)
        return part.url

    # ------------------------------------------------------------ one response

    def _check_resume(self, response: aiohttp.ClientResponse) -> int:
        """Validate a (possibly ranged) response; return raw bytes to discard."""
        content_type = response.headers.get("Content-Type", "")
        if content_type.startswith(HTML_TYPES) and self.part.format != "csv":
            raise PartError(
                self.label,
                f"server answered HTTP {response.status} with an HTML page ({content_type}) "
                f"instead of {self.part.format} data — {redact_url(str(response.url))}",
            )
        encoding = response.headers.get("Content-Encoding", "identity").lower() or "identity"
        if encoding not in ("identity", "gzip", "x-gzip"):
            raise PartError(self.label, f"unsupported Content-Encoding {encoding!r}")
        etag = response.headers.get("ETag")
        if self._content_encoding is None:
            self._content_encoding = encoding
            if encoding != "identity":
                self._content_gzip = GunzipStream()
        elif encoding != self._content_encoding:
            raise PartChangedError(
                self.label, f"Content-Encoding changed from {self._content_encoding} to {encoding} on resume"
            )
        if self._etag and etag and etag != self._etag:
            raise PartChangedError(
                self.label,
                f"file changed since it was first read (ETag {self._etag} became {etag}); "
                "refusing to mix two versions",
            )
        self._etag = self._etag or etag
        if self.stats.size is None:  # for progress only: never checked against the body
            self.stats.size = announced_size(response)
        if not self.raw_offset:
            return 0
        if response.status == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
            if not match:
                raise PartError(self.label, "206 response without a valid Content-Range")
            start = int(match.group(1))
            if start > self.raw_offset:
                raise PartError(
                    self.label, f"server resumed at byte {start}, after the requested {self.raw_offset}"
                )
            return self.raw_offset - start
        # 200: the server ignored Range (or If-Range found a new version, caught above by ETag).
        log.info("%s: server ignored Range; discarding the first %d bytes", self.label, self.raw_offset)
        return self.raw_offset

    def _range_not_satisfiable(self, response: aiohttp.ClientResponse) -> None:
        """416 on resume: the file is shorter than what we expected to read."""
        match = re.fullmatch(r"bytes \*/(\d+)", response.headers.get("Content-Range", "").strip())
        total = int(match.group(1)) if match else None
        if total is not None and total < self.raw_offset:
            raise PartChangedError(self.label, f"file shrank to {total} bytes after {self.raw_offset} were read")
        self._eof_without_progress = True

    async def _consume(self, response: aiohttp.ClientResponse, skip_raw: int) -> None:
        config = self._config
        decode = self._decode
        batch_size = config.batch_size
        stats, run_stats = self.stats, self._run_stats
        start_offset = self.raw_offset
        async for chunk in response.content.iter_any():
            if skip_raw:
                if len(chunk) <= skip_raw:
                    skip_raw -= len(chunk)
                    continue
                chunk = chunk[skip_raw:]
                skip_raw = 0
            self.raw_offset += len(chunk)
            stats.bytes += len(chunk)
            run_stats.bytes += len(chunk)
            for _ in decode(chunk):
                if self._out and (
                    len(self._out) >= batch_size or time.monotonic() - self._batch_started > config.batch_delay
                ):
                    await self._emit()
        if self._content_gzip is not None and self._content_gzip.truncated:
            raise IncompleteBody(f"{self.label}: response ended inside a gzip member")
        self._eof_without_progress = self.raw_offset == start_offset and start_offset > 0
        self._check_complete()

    def _decode(self, chunk: bytes) -> Iterator[None]:
        """Raw bytes → (content gunzip) → (file gunzip) → skip → decoder.

        Yields after each decoded piece so that ``_consume`` can close a batch
        between pieces: one compressed chunk inflates to several MiB, and
        without this a batch (and so memory) grew with the compression ratio
        (measured: ~3000-record batches, 300 MB peak RSS on a gzip export).
        """
        if self._content_gzip is None and self._file_gzip is None and self._compression_known and not self._skip:
            self._feed(chunk)
            yield
            return
        for piece in self._content_layer(chunk):
            for data in self._file_layer(piece):
                if self._skip:
                    if len(data) <= self._skip:
                        self._skip -= len(data)
                        continue
                    data = data[self._skip :]
                    self._skip = 0
                self._feed(data)
                yield

    def _feed(self, data: bytes) -> None:
        before = len(self._out)
        self._decoder.feed(data, self._out)
        if not before and self._out:
            self._batch_started = time.monotonic()

    def _content_layer(self, chunk: bytes) -> Iterator[bytes]:
        if self._content_gzip is None:
            yield chunk
        else:
            yield from self._content_gzip.feed(chunk)

    def _file_layer(self, piece: bytes) -> Iterator[bytes]:
        if not self._compression_known:
            self._sniff += piece
            if len(self._sniff) < len(GZIP_MAGIC):
                return
            piece, self._sniff = self._sniff, b""
            self._compression_known = True
            if piece.startswith(GZIP_MAGIC):
                self._file_gzip = GunzipStream()
        if self._file_gzip is None:
            yield piece
        else:
            yield from self._file_gzip.feed(piece)

    def _check_complete(self) -> None:
        """At a clean end of body: is the part really complete?"""
        if not self._compression_known and self._sniff:
            self._compression_known = True
            piece, self._sniff = self._sniff, b""
            self._feed(piece)
        truncated_gzip = self._file_gzip is not None and self._file_gzip.truncated
        size = self.part.size
        short = (
            self._config.check_size
            and size is not None
            and self._content_encoding == "identity"
            and self.raw_offset < size
        )
        if not (truncated_gzip or short):
            if (
                self._config.check_size
                and size is not None
                and self._content_encoding == "identity"
                and self.raw_offset > size
            ):
                raise SizeMismatchError(
                    self.label, f"received {self.raw_offset} bytes but the export announced {size}"
                )
            return
        if self._eof_without_progress:
            if truncated_gzip:
                raise PartError(
                    self.label, f"gzip file is truncated: it ends inside a member at byte {self.raw_offset}"
                )
            raise SizeMismatchError(
                self.label, f"the file has {self.raw_offset} bytes but the export announced {size}"
            )
        what = "inside a gzip member" if truncated_gzip else f"at byte {self.raw_offset} of {size}"
        raise IncompleteBody(f"{self.label}: body ended {what}")

    # ----------------------------------------------------------------- batches

    async def _emit(self, done: bool = False) -> None:
        records, self._out = self._out, []
        checkpoint = Checkpoint(
            part_key=self.info.key,
            offset=self._decoder.offset,
            line=self._decoder.line,
            done=done,
            decoder_state=self._decoder.state(),
            compressed=self._file_gzip is not None or self._content_encoding not in (None, "identity"),
            etag=self._etag,
        )
        await self._emit_batch(Batch(records, self.info, checkpoint))

    async def _finish(self) -> None:
        self._decoder.finish(self._out)
        self.stats.done = True
        await self._emit(done=True)


def _looks_gzipped(url: str) -> bool:
    try:
        return urlsplit(url).path.endswith((".gz", ".gzip"))
    except ValueError:
        return False


def _short(exc: BaseException) -> str:
    if isinstance(exc, HTTPError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def announced_size(response: aiohttp.ClientResponse) -> int | None:
    """The whole stored body's size a response announces (Content-Range total or Content-Length)."""
    if response.status == 206:
        total = response.headers.get("Content-Range", "").rpartition("/")[2].strip()
        return int(total) if total.isdigit() else None
    length = response.headers.get("Content-Length", "")
    return int(length) if response.status == 200 and length.isdigit() else None
