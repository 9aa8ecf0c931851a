"""Stream one part into batches, resuming across dropped connections.

The downloader keeps, across requests, everything it has already consumed:
the raw byte count, the byte stages' state (gunzip) and the decoder's held-over
partial line.  A retry therefore asks for ``Range: bytes=<raw bytes received>-``
and carries on feeding exactly where the broken response stopped: no record is
re-read, none is skipped, and a partial line is never parsed twice.

Resuming from a *checkpoint* (another process, after a crash) only knows the
decoded offset of the last delivered line and the file's ETag, Last-Modified
and raw length, which the new responses must match as within one run: plain parts
restart there with ``Range`` + ``If-Range``; compressed parts are re-read from
the start and the already delivered bytes are skipped after decompression.

Every answer is checked by :class:`~streamer.engine.validation.FileIdentity`
before its bytes are used: a file that changed is never spliced — the part
restarts from byte 0 while nothing of it was delivered, else fails with
:class:`PartChangedError`.  The byte stages live in :mod:`streamer.decoding.stages`,
batching in :mod:`streamer.engine.batching`, the rate floor in :mod:`streamer.engine.rate`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager as AsyncContextManager
from urllib.parse import urlsplit

import aiohttp

from streamer.decoding.badlines import BadLines
from streamer.decoding.base import make_decoder
from streamer.decoding.stages import (
    ByteChain,
    ByteStage,
    ByteStageError,
    Gunzip,
    GzipSniffer,
    HtmlGuard,
    IncompleteStream,
    SkipBytes,
)
from streamer.engine.answers import Answer, file_answer, http_answer, local_path
from streamer.engine.batching import Batcher
from streamer.engine.config import StreamConfig
from streamer.engine.rate import RateFloor, TransferTooSlow
from streamer.engine.stats import PartStats, RunStats
from streamer.engine.validation import BodyPlan, FileIdentity, IncompleteBody, media_type_error
from streamer.errors import (
    HTTPError,
    PartChangedError,
    PartError,
    SizeMismatchError,
    StreamerError,
    URLExpiredError,
    describe_exception,
)
from streamer.http.retry import TRANSIENT_ERRORS
from streamer.records import Batch, Checkpoint, Part
from streamer.state.scrub import scrub_text

__all__ = ["IncompleteBody", "PartDownload"]

log = logging.getLogger("streamer.download")

Emit = Callable[[Batch], Awaitable[None]]
MAX_RESTARTS = 2
"""Restarts from byte 0 (a file that changed before anything was delivered) per part."""


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
        self._bad_lines = bad_lines
        self._emit_batch = emit
        self._run_stats = run_stats
        self.stats: PartStats = run_stats.part(part.info.key, self.label, part.size, part.records)
        self._start = start
        self._delivered = False
        """Whether a batch of this part went to the sink: a changed file can then no longer be restarted."""
        self._restarts = 0
        self._progress = 0
        """Raw offset after the last failure that was not a trickle: the retry budget's measure."""
        self._must_refresh = False
        self._begin(start)

    def _begin(self, start: Checkpoint | None) -> None:
        """Reading state at ``start`` (a checkpoint of another run) or at byte 0."""
        part, config = self.part, self._config
        offset, line, state = (start.offset, start.line, start.decoder_state) if start else (0, 0, None)
        self._decoder = make_decoder(
            part.format,
            part.info,
            bad_lines=self._bad_lines,
            max_line_bytes=config.max_line_bytes,
            offset=offset,
            line=line,
            state=state,
            options=part.decoder_options,
        )
        compressed_start = start is not None and start.compressed
        # Bytes of the stored representation received so far: the next Range start.
        self.raw_offset = offset if start and not compressed_start else 0
        self._identity = FileIdentity(
            self.label,
            announced=part.size if config.check_size else None,
            etag=start.etag if start else None,
            last_modified=start.last_modified if start else None,
            length=start.length if start else None,
        )
        stages: list[ByteStage] = []
        if part.compression == "gzip" or (part.compression == "auto" and _looks_gzipped(part.url)):
            stages.append(Gunzip("gzip file"))
        elif part.compression == "auto" and not self.raw_offset:
            stages.append(GzipSniffer())
        if compressed_start:
            stages.append(SkipBytes(offset))  # decoded bytes a previous run delivered
        if not offset:
            stages.append(HtmlGuard())
        self._chain = ByteChain(stages)
        self._batcher = Batcher(config.batch_size, config.batch_delay)

    # ----------------------------------------------------------------- driving

    async def run(self) -> None:
        """Stream the whole part, retrying transient failures, then emit the final batch."""
        retrying = self._config.retry.retrying(
            progress=lambda: self._progress,
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
        self._decoder.finish(self._batcher.records)
        self.stats.done = True
        await self._emit(done=True)

    def _on_retry(self, exc: BaseException, delay: float) -> None:
        self.stats.retries += 1
        self._run_stats.retries += 1
        log.warning("%s: %s; resuming at byte %d in %.1fs", self.label, _short(exc), self.raw_offset, delay)

    async def _attempt(self) -> None:
        try:
            await self._request()
        except TransferTooSlow:
            raise  # a trickle is no progress, however many bytes it brought
        except PartChangedError as exc:
            if self._delivered or self._restarts >= MAX_RESTARTS or (self._start and self._start.offset):
                raise
            self._restarts += 1
            log.warning("%s; nothing of it was delivered yet: restarting from byte 0", exc)
            self._begin(None)
            raise IncompleteBody(self.label, "file changed before anything was delivered; restarting") from exc
        except ByteStageError as exc:
            raise PartError(self.label, f"{exc} (near byte {self.raw_offset})") from None
        except BaseException:
            self._progress = self.raw_offset
            raise

    async def _request(self) -> None:
        url = await self._current_url()
        identity, offset = self._identity, self.raw_offset
        headers = dict(self.part.headers)
        headers["Accept-Encoding"] = identity.encoding or ("identity" if offset else "gzip")
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if identity.etag and not identity.etag.startswith("W/"):
                # If-Range takes strong validators only: a weak one would make every
                # resume a full 200; the ETag is still compared on the response.
                headers["If-Range"] = identity.etag
        try:
            async with self._open(url, headers) as answer:
                if answer.status == 416 and offset:
                    identity.check_not_satisfiable(answer.headers, offset)
                    self._end_of_body(0, None, without_progress=True)
                    return
                if why := media_type_error(answer.headers.get("Content-Type", "")):
                    raise PartError(
                        self.label,
                        f"server answered HTTP {answer.status} with {why} instead of "
                        f"{self.part.format} data — {answer.where}",
                    )
                plan = identity.check(answer.status, answer.headers, offset)
                if self.stats.size is None:  # for progress: the size the first answer proved
                    self.stats.size = identity.expected_size
                if plan.first and identity.encoding != "identity":
                    self._chain.add(Gunzip("gzip Content-Encoding"), first=True)
                await self._consume(answer.chunks, plan)
        except URLExpiredError as exc:
            if self.part.refresh is None:
                raise PartError(self.label, f"signed URL rejected and no way to re-sign it ({exc})") from exc
            self._must_refresh = True
            exc.retry_after = 0.0  # type: ignore[attr-defined]
            raise

    def _open(self, url: str, headers: dict[str, str]) -> AsyncContextManager[Answer]:
        path = local_path(url, self.label)
        if path is not None:
            return file_answer(path, self.raw_offset, self.label)
        return http_answer(self._session, url, headers, self.label)

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

    async def _consume(self, chunks: AsyncIterator[bytes], plan: BodyPlan) -> None:
        """Raw chunks → (skip what was already read) → byte stages → decoder → batches."""
        config = self._config
        stats, run_stats, chain, batcher, decoder = self.stats, self._run_stats, self._chain, self._batcher, self._decoder
        already = SkipBytes(plan.skip)
        floor = RateFloor(self.label, config.min_rate_bytes, config.min_rate_window)
        begin, body, span = self.raw_offset, 0, plan.span
        async for chunk in chunks:
            body += len(chunk)
            if span is not None and body > span:  # before a byte of the excess reaches the decoder
                raise PartError(self.label, f"response body has more than the {span} bytes it announced")
            floor.add(len(chunk))
            if already.remaining and not (chunk := already.cut(chunk)):
                continue
            self.raw_offset += len(chunk)
            stats.bytes += len(chunk)
            run_stats.bytes += len(chunk)
            for data in chain.decode(chunk):
                batcher.feed(decoder, data)
                if batcher.due():
                    waited = time.monotonic()
                    await self._emit()
                    floor.exclude(time.monotonic() - waited)
        self._end_of_body(body, plan.span, without_progress=self.raw_offset == begin and begin > 0)

    def _end_of_body(self, body: int, span: int | None, *, without_progress: bool) -> None:
        """At a clean end of body: is the part really complete? If not, resume or fail.

        ``without_progress``: a resume that brought no new byte; another one would not either.
        """
        complete = self._identity.check_end(self.raw_offset, body, span)
        try:
            for data in self._chain.flush():
                self._batcher.feed(self._decoder, data)
            truncated = None
        except IncompleteStream as exc:
            truncated = exc
        if complete and truncated is None:
            return
        if without_progress:
            if truncated is not None:
                raise PartError(
                    self.label, f"{truncated.what} is truncated: it ends inside a member at byte {self.raw_offset}"
                )
            raise SizeMismatchError(self.label, self._identity.short_message(self.raw_offset))
        what = str(truncated) if truncated else f"at byte {self.raw_offset} of {self._identity.expected_size}"
        raise IncompleteBody(self.label, f"body ended {what}")

    # ----------------------------------------------------------------- batches

    async def _emit(self, done: bool = False) -> None:
        decoder = self._decoder
        checkpoint = Checkpoint(
            part_key=self.info.key,
            offset=decoder.offset,
            line=decoder.line,
            done=done,
            decoder_state=decoder.state(),
            compressed=self._chain.inflates,
            etag=self._identity.etag,
            last_modified=self._identity.last_modified,
            length=self._identity.length,
        )
        self._delivered = True
        await self._emit_batch(Batch(self._batcher.take(), self.info, checkpoint))


def _looks_gzipped(url: str) -> bool:
    try:
        return urlsplit(url).path.endswith((".gz", ".gzip"))
    except ValueError:
        return False


def _short(exc: BaseException) -> str:
    if isinstance(exc, PartError):
        return str(exc).removeprefix(f"{exc.part}: ")  # the log line names the part already
    if isinstance(exc, HTTPError):
        return str(exc)
    return describe_exception(exc)
