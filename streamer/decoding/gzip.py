"""Incremental gunzip for ``.jsonl.gz`` files and ``Content-Encoding: gzip``.

Handles multi-member files (``cat a.gz b.gz``, or one member per block as
many exporters write them) through ``unused_data``, caps each output piece so
a small, highly compressed chunk cannot balloon memory, and reports a file
that ends inside a member instead of silently losing its tail.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

GZIP_MAGIC = b"\x1f\x8b"
MAX_PIECE = 1 << 20


class GunzipStream:
    """Decompresses a gzip byte stream fed chunk by chunk."""

    __slots__ = ("_inflate", "_started", "_mid_member", "members")

    def __init__(self) -> None:
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._started = False
        self._mid_member = False
        self.members = 0
        """Members read to their end (header, body and a verified trailer)."""

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        """Decompressed pieces (each at most 1 MiB) of ``chunk``."""
        data = chunk
        if self.members and not self._mid_member and data[:1] == b"\x00":
            data = data.lstrip(b"\x00")  # zero padding after the last member, split across chunks
        while data:
            self._started = True
            self._mid_member = True
            piece = self._inflate.decompress(data, MAX_PIECE)
            if piece:
                yield piece
            data = self._inflate.unconsumed_tail
            if self._inflate.eof:
                # At the end of a member every byte after it is in unused_data.
                # unconsumed_tail may still hold a stale copy of those same bytes
                # (CPython, after a max_length-limited call): never feed both.
                self._mid_member = False
                self.members += 1
                data = self._inflate.unused_data
                self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
                if data.strip(b"\x00") == b"":  # trailing zero padding after the last member
                    data = b""

    @property
    def truncated(self) -> bool:
        """True when the stream stopped inside a gzip member."""
        return self._mid_member
