"""Frame a chunked byte stream into complete lines.

Chunks end anywhere: mid-line, mid-CRLF, mid-UTF-8 sequence, mid-BOM.  The
splitter hands back only complete lines and keeps the tail.  A long line that
spans many chunks is kept as a list of pieces and joined once (``buf += chunk``
would be quadratic), and is refused past ``max_line_bytes`` so a file without
newlines cannot exhaust memory.
"""

from __future__ import annotations

from streamer.errors import LineTooLongError

BOM = b"\xef\xbb\xbf"


class LineSplitter:
    """Incremental line framing with exact byte offsets.

    After each :meth:`feed`, :attr:`offset` is the byte offset just past the
    last returned line (where a resume must restart) and :attr:`line` its
    1-based number.  Returned lines exclude the ``\\n``; a ``\\r`` before it is
    kept (JSON parsers treat it as whitespace, the CSV decoder strips it).
    """

    __slots__ = ("offset", "line", "max_line_bytes", "part", "bom", "_pending", "_pending_len", "_at_start")

    def __init__(
        self, *, part: str, max_line_bytes: int, offset: int = 0, line: int = 0
    ) -> None:
        self.part = part
        self.max_line_bytes = max_line_bytes
        self.offset = offset
        self.line = line
        self._pending: list[bytes] = []
        self._pending_len = 0
        self._at_start = offset == 0
        self.bom = 0
        """Length of the BOM stripped at the start (line 1 begins at this offset)."""

    def feed(self, chunk: bytes) -> list[bytes]:
        """Complete lines ending in ``chunk``; the first starts at the old :attr:`offset`."""
        if not chunk:
            return []
        if self._at_start:
            chunk = self._strip_bom(chunk)
            if self._at_start:
                return []
        if b"\n" not in chunk:
            self._hold(chunk)
            return []
        if self._pending:
            self._pending.append(chunk)
            chunk = b"".join(self._pending)
            self._pending = []
            self._pending_len = 0
        lines = chunk.split(b"\n")
        tail = lines.pop()
        if len(chunk) > self.max_line_bytes:
            self._check_lengths(lines)
        self._advance(lines, len(chunk) - len(tail))
        if tail:
            self._hold(tail)
        return lines

    def finish(self) -> list[bytes]:
        """The last line when the file does not end with a newline."""
        if self._at_start and self._pending:
            # Fewer than three bytes in the whole file: no complete BOM possible.
            self._at_start = False
        if not self._pending:
            return []
        last = b"".join(self._pending)
        self._pending = []
        self._pending_len = 0
        if not last or (last == BOM[: len(last)] and self.offset == 0):
            return []  # nothing after the last newline (or after the BOM): no line
        self._advance([last], len(last))
        return [last]

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete line."""
        return self._pending_len

    def _advance(self, lines: list[bytes], nbytes: int) -> None:
        self.offset += nbytes
        self.line += len(lines)

    def _hold(self, piece: bytes) -> None:
        self._pending.append(piece)
        self._pending_len += len(piece)
        if self._pending_len > self.max_line_bytes:
            raise LineTooLongError(
                f"line longer than max_line_bytes={self.max_line_bytes} "
                f"(no newline in the next {self._pending_len} bytes)",
                part=self.part,
                line=self.line + 1,
                offset=self.offset,
                snippet=self._pending[0][:120],
            )

    def _check_lengths(self, lines: list[bytes]) -> None:
        offset = self.offset
        for number, line in enumerate(lines, self.line + 1):
            if len(line) > self.max_line_bytes:
                raise LineTooLongError(
                    f"line of {len(line)} bytes exceeds max_line_bytes={self.max_line_bytes}",
                    part=self.part,
                    line=number,
                    offset=offset,
                    snippet=line[:120],
                )
            offset += len(line) + 1

    def _strip_bom(self, chunk: bytes) -> bytes:
        """Drop a UTF-8 BOM at the very start, even when it arrives split."""
        if self._pending:
            chunk = b"".join(self._pending) + chunk
            self._pending = []
            self._pending_len = 0
        if len(chunk) < len(BOM) and BOM.startswith(chunk):
            self._hold(chunk)
            return b""
        self._at_start = False
        if chunk.startswith(BOM):
            self.offset += len(BOM)
            self.bom = len(BOM)
            return chunk[len(BOM) :]
        return chunk
