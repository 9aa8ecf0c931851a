"""Byte stages between the socket and a decoder, chained like httpx's ``MultiDecoder``.

Each stage turns bytes into bytes: ``decode(data)`` returns the pieces it can
release now, ``flush()`` what it held back, once, at a clean end of body, and
raises when the stream cannot end there (a gzip member cut short).  Stages
that have done their job (a sniffer that found plain text, a skip that
dropped its bytes) report ``spent`` and leave the chain, so a plain file
flows through an empty chain: one tuple per chunk, no generator, no copy.

Pieces are yielded, not joined: one compressed chunk may inflate to several
MiB, and the engine closes a batch between pieces to keep memory flat.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from streamer.decoding.gzip import GZIP_MAGIC, GunzipStream


class ByteStageError(ValueError):
    """The bytes cannot be what they claim to be (not gzip, an HTML page); not retried."""


class IncompleteStream(ValueError):
    """The stream ended where it cannot end (inside a gzip member): resume, or fail."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(f"{what} ends inside a gzip member")


class ByteStage(Protocol):
    spent: bool
    """True once the stage passes every later byte through unchanged."""
    inflates: bool
    """True when the stage decompresses: offsets after it count decoded bytes."""

    def decode(self, data: bytes) -> Iterable[bytes]: ...

    def flush(self) -> Iterable[bytes]: ...


class Gunzip:
    """``Content-Encoding: gzip`` or a ``.gz`` file: one or more gzip members."""

    __slots__ = ("_stream", "spent", "inflates", "_what")

    def __init__(self, what: str = "gzip stream") -> None:
        self._stream = GunzipStream()
        self._what = what
        self.spent = False
        self.inflates = True

    def decode(self, data: bytes) -> Iterator[bytes]:
        try:
            yield from self._stream.feed(data)
        except zlib.error as exc:
            members = self._stream.members
            where = f"after {members} complete member{'s' if members != 1 else ''}" if members else "in its first member"
            raise ByteStageError(f"{self._what} is not valid gzip {where} ({exc})") from None

    def flush(self) -> tuple[bytes, ...]:
        if self._stream.truncated:
            raise IncompleteStream(self._what)
        return ()


class GzipSniffer:
    """Compression ``auto`` without a ``.gz`` name: gunzip only if the body starts with the magic."""

    __slots__ = ("_head", "_gunzip", "spent", "inflates")

    def __init__(self) -> None:
        self._head = b""
        self._gunzip: Gunzip | None = None
        self.spent = False
        self.inflates = False

    def decode(self, data: bytes) -> Iterable[bytes]:
        if self._gunzip is not None:
            return self._gunzip.decode(data)
        head = self._head + data
        if len(head) < len(GZIP_MAGIC):
            self._head = head
            return ()
        self._head = b""
        return self._decide(head)

    def _decide(self, head: bytes) -> Iterable[bytes]:
        if head.startswith(GZIP_MAGIC):
            self._gunzip = Gunzip("gzip file")
            self.inflates = True
            return self._gunzip.decode(head)
        self.spent = True
        return (head,) if head else ()

    def flush(self) -> Iterable[bytes]:
        if self._gunzip is not None:
            return self._gunzip.flush()
        head, self._head = self._head, b""
        self.spent = True
        return (head,) if head else ()


class SkipBytes:
    """Drops the first ``count`` bytes: what a previous run already delivered."""

    __slots__ = ("remaining", "spent", "inflates")

    def __init__(self, count: int) -> None:
        self.remaining = count
        self.spent = count == 0
        self.inflates = False

    def cut(self, data: bytes) -> bytes:
        """``data`` without the bytes still to skip (``b""`` when all of it is)."""
        if len(data) <= self.remaining:
            self.remaining -= len(data)
            self.spent = self.remaining == 0
            return b""
        data = data[self.remaining :]
        self.remaining = 0
        self.spent = True
        return data

    def decode(self, data: bytes) -> tuple[bytes, ...]:
        if self.remaining:
            data = self.cut(data)
        return (data,) if data else ()

    def flush(self) -> tuple[bytes, ...]:
        return ()


_BOM = b"\xef\xbb\xbf"
_HTML_STARTS = (b"<!doctype html", b"<html")
_SNIFF_LIMIT = 4096
"""Leading whitespace beyond this is not an HTML page's start worth waiting for."""


class HtmlGuard:
    """Refuses a body that starts like an HTML document (after a BOM and whitespace).

    HTML is never JSON Lines, JSON or CSV: it is a login page, a CDN error or
    a captive portal answered with status 200 and a generic media type.
    """

    __slots__ = ("_head", "spent", "inflates")

    def __init__(self) -> None:
        self._head = b""
        self.spent = False
        self.inflates = False

    def decode(self, data: bytes) -> tuple[bytes, ...]:
        head = self._head + data if self._head else data
        if len(head) < len(_BOM) and _BOM.startswith(head):
            self._head = head  # perhaps a BOM, split across chunks
            return ()
        start = head[3:] if head.startswith(_BOM) else head
        start = start.lstrip()
        if len(start) < len(_HTML_STARTS[0]) and len(head) < _SNIFF_LIMIT and _could_be_html(start):
            self._head = head
            return ()
        self._check(start)
        self._head = b""
        self.spent = True
        return (head,) if head else ()

    def flush(self) -> tuple[bytes, ...]:
        head, self._head = self._head, b""
        self._check(head[3:].lstrip() if head.startswith(_BOM) else head.lstrip())
        self.spent = True
        return (head,) if head else ()

    @staticmethod
    def _check(start: bytes) -> None:
        if start[:14].lower().startswith(_HTML_STARTS):
            raise ByteStageError(f"body is an HTML page, not data: {start[:60]!r}")


def _could_be_html(start: bytes) -> bool:
    """Whether more bytes could still make ``start`` an HTML document's beginning."""
    low = start.lower()
    return any(marker.startswith(low) for marker in _HTML_STARTS)


class ByteChain:
    """Runs bytes through the stages in order; stages that are spent leave it."""

    __slots__ = ("stages", "_inflated")

    def __init__(self, stages: Sequence[ByteStage] = ()) -> None:
        self.stages: list[ByteStage] = [s for s in stages if not s.spent]
        self._inflated = any(s.inflates for s in self.stages)

    @property
    def inflates(self) -> bool:
        """Whether any stage decompressed: checkpoint offsets then count decoded bytes."""
        return self._inflated or any(s.inflates for s in self.stages)

    def add(self, stage: ByteStage, *, first: bool = False) -> None:
        self.stages.insert(0, stage) if first else self.stages.append(stage)

    def decode(self, data: bytes) -> Iterable[bytes]:
        return self._run(data, 0) if self.stages else (data,)

    def flush(self) -> Iterator[bytes]:
        """What every stage still holds, in order; raises if the stream cannot end here."""
        stages = self.stages
        for index, stage in enumerate(stages):
            for piece in stage.flush():
                yield from self._through(piece, index + 1)
        self._prune()

    def _run(self, data: bytes, start: int) -> Iterator[bytes]:
        yield from self._through(data, start)
        self._prune()

    def _through(self, data: bytes, start: int) -> Iterator[bytes]:
        stages = self.stages
        if start == len(stages):
            yield data
            return
        for piece in stages[start].decode(data):
            yield from self._through(piece, start + 1)

    def _prune(self) -> None:
        if any(s.spent for s in self.stages):
            self._inflated = self.inflates
            self.stages = [s for s in self.stages if not s.spent]
