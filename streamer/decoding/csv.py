"""Streaming CSV decoding: header row → field names, each row → one record.

Framing is done on bytes, before any text decoding, so that offsets stay
exact: the :class:`~streamer.decoding.lines.LineSplitter` cuts physical lines
(BOM, chunk boundaries, ``max_line_bytes``), and a quote-parity scan joins
the physical lines of a row whose quoted field holds newlines (a row is
complete when it contains an even number of quote characters — doubled
quotes inside a quoted field count twice, so they never flip it).  Each
complete logical row is then parsed by the C ``csv`` module through one
long-lived reader, so a row costs one ``bytes.count``, one ``decode``, one
``next(reader)`` and one ``dict(zip(...))``.

:attr:`offset` and :attr:`line` only move past *complete* rows, and
:meth:`state` returns the header, so a resume at any checkpoint restarts on
a row boundary without re-reading the header.  ``state()["rows"]`` counts
the data rows seen so far (delivered or skipped as bad), which lets
``expected_rows`` — a vendor's announced row count — be checked at the end
of the file even after a cold resume.

The decoder assumes an ASCII-compatible encoding (UTF-8, Latin-1, cp1252…):
the delimiter, quote and newline bytes must mean the same in the bytes as in
the text.  A quote character inside an *unquoted* field (``ab"c``) breaks the
parity scan; such rows are reported as bad rather than silently mis-framed.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Mapping, Sequence
from typing import Any

from streamer.decoding.base import DecoderStart
from streamer.errors import ConfigError, DecodeError, LineTooLongError, RowCountMismatchError
from streamer.records import Record

ASCII_COMPATIBLE_PROBE = b",;|\t\"'\r\nAz09"


class _OneRow:
    """The iterator a persistent ``csv.reader`` pulls from: one logical row at a time.

    Handing the reader a whole row (embedded newlines included) means the C
    parser needs exactly one ``__next__`` per row; if it asks for a second
    one the row ended inside a quoted field.
    """

    __slots__ = ("text",)

    def __init__(self) -> None:
        self.text: str | None = None

    def __iter__(self) -> _OneRow:
        return self

    def __next__(self) -> str:
        text = self.text
        if text is None:
            raise StopIteration
        self.text = None
        return text


class CsvDecoder:
    """Decodes a CSV file whose first row is the header (or with given ``fieldnames``).

    Options (``Part.decoder_options``): ``delimiter`` (``","``), ``quotechar``
    (``'"'``), ``encoding`` (``"utf-8"``), ``fieldnames`` (the file has no
    header row), ``expected_rows`` (the number of data rows the file must
    have; checked at the end) and ``expected_rows_source`` (what announced
    that number, for the error message).
    """

    def __init__(self, start: DecoderStart, options: Mapping[str, Any]) -> None:
        options = dict(options)
        offset, line, state = start.offset, start.line, start.state
        self._origin = start
        self._part = start.part
        self._label = start.label
        self._bad_lines = start.bad_lines
        self._max_row_bytes = start.max_line_bytes
        delimiter = options.pop("delimiter", ",")
        quotechar = options.pop("quotechar", '"')
        self._encoding = _check_encoding(options.pop("encoding", "utf-8"))
        if len(delimiter) != 1 or len(quotechar) != 1 or delimiter == quotechar:
            raise ConfigError(
                f"CSV delimiter and quotechar must be two different single characters, "
                f"not {delimiter!r} and {quotechar!r}"
            )
        self._quote = quotechar.encode(self._encoding)
        if len(self._quote) != 1:
            raise ConfigError(f"CSV quotechar {quotechar!r} must be one byte in {self._encoding}")
        fieldnames = options.pop("fieldnames", None)
        self._expected_rows: int | None = options.pop("expected_rows", None)
        self._expected_source: str = options.pop("expected_rows_source", "the export")
        start.refuse_unknown("CSV", options)

        self._splitter = start.splitter()
        self.offset = offset
        self.line = line
        self._synced = offset > 0
        self._header: list[str] | None = None
        self._rows = 0
        if state:
            if state.get("header") is not None:
                self._header = list(state["header"])
            self._rows = int(state.get("rows") or 0)
        if self._header is None and fieldnames is not None:
            self._header = [str(name) for name in fieldnames]
        if self._header is None and offset > 0:
            raise ConfigError(
                f"{self._label}: cannot resume CSV at byte offset {offset} without its header "
                "(checkpoint has no decoder_state['header'])"
            )
        self._width = len(self._header) if self._header is not None else 0
        # Physical lines of the logical row still open (odd number of quotes so far).
        self._open: list[bytes] = []
        self._open_bytes = 0
        self._feed_row = _OneRow()
        self._reader = csv.reader(self._feed_row, delimiter=delimiter, quotechar=quotechar, strict=True)

    # ---------------------------------------------------------------- contract

    def state(self) -> Mapping[str, Any] | None:
        if self._header is None:
            return None
        return {"header": self._header, "rows": self._rows}

    def feed(self, chunk: bytes, out: list[Record]) -> None:
        lines = self._splitter.feed(chunk)
        if lines:
            if not self._synced:
                self._sync(lines, newline=True)
            self._frame(lines, out)
        if self._open and self._open_bytes + self._splitter.buffered > self._max_row_bytes:
            self._too_long()

    def finish(self, out: list[Record]) -> None:
        lines = self._splitter.finish()
        if lines:
            if not self._synced:
                self._sync(lines, newline=False)
            self._frame(lines, out)
        if self._open:
            raw = b"\n".join(self._open)
            self._open = []
            self._open_bytes = 0
            self._bad("file ended inside a quoted field (unbalanced quote)", self.line + 1, self.offset, raw)
            self._rows += 1
        # Everything is consumed now (the last row may lack its newline).
        self.offset = self._splitter.offset
        self.line = self._splitter.line
        self._check_row_count()

    # ----------------------------------------------------------------- framing

    def _sync(self, lines: list[bytes], *, newline: bool) -> None:
        """Take the first line's offset from the splitter once (it skips a BOM)."""
        self.offset = self._splitter.offset - sum(map(len, lines)) - (len(lines) if newline else 0)
        self._synced = True

    def _frame(self, lines: list[bytes], out: list[Record]) -> None:
        """Group physical lines into logical rows by quote parity; parse each complete row."""
        quote = self._quote
        parse = self._parse
        open_lines = self._open
        offset, number = self.offset, self.line
        header, width, part, append = self._header, self._width, self._part, out.append
        feed_row, reader, encoding = self._feed_row, self._reader, self._encoding
        for raw in lines:
            if open_lines:
                open_lines.append(raw)
                self._open_bytes += len(raw) + 1
                if raw.count(quote) & 1:
                    row = b"\n".join(open_lines)
                    physical = len(open_lines)
                    open_lines.clear()
                    self._open_bytes = 0
                    if len(row) > self._max_row_bytes:
                        self._row_too_long(row, number + 1, offset)
                    parse(row, number + 1, offset, out)
                    offset += len(row) + 1
                    number += physical
                    self.offset, self.line = offset, number
                elif self._open_bytes > self._max_row_bytes:
                    self.offset, self.line = offset, number
                    self._too_long()
                continue
            if raw.count(quote) & 1:
                open_lines.append(raw)
                self._open_bytes = len(raw) + 1
                continue
            if raw and raw != b"\r":
                if self._header is None:
                    parse(raw, number + 1, offset, out)
                    header, width = self._header, self._width
                else:  # the hot path, inlined: one decode, one C parse, one dict
                    self._rows += 1
                    try:
                        feed_row.text = raw.decode(encoding)
                        fields = next(reader)
                    except (UnicodeDecodeError, csv.Error, StopIteration) as exc:
                        feed_row.text = None
                        self._bad(_reason(exc, encoding), number + 1, offset, raw)
                    else:
                        if len(fields) == width:
                            append(Record(dict(zip(header, fields)), part, number + 1, offset))
                        else:
                            self._bad(f"row has {len(fields)} fields, the header has {width}", number + 1, offset, raw)
            offset += len(raw) + 1
            number += 1
        self.offset, self.line = offset, number

    def _parse(self, raw: bytes, line: int, offset: int, out: list[Record]) -> None:
        """One complete logical row → a record (or the header, or a bad line)."""
        if self._header is None:
            self._read_header(raw, line, offset)
            return
        self._rows += 1
        try:
            self._feed_row.text = raw.decode(self._encoding)
            fields = next(self._reader)
        except (UnicodeDecodeError, csv.Error, StopIteration) as exc:
            self._feed_row.text = None
            self._bad(_reason(exc, self._encoding), line, offset, raw)
            return
        if len(fields) != self._width:
            self._bad(f"row has {len(fields)} fields, the header has {self._width}", line, offset, raw)
            return
        out.append(Record(dict(zip(self._header, fields)), self._part, line, offset))

    def _read_header(self, raw: bytes, line: int, offset: int) -> None:
        """The first row names the fields; a header that does not parse stops the run."""
        try:
            self._feed_row.text = raw.decode(self._encoding)
            fields = next(self._reader)
        except (UnicodeDecodeError, csv.Error, StopIteration) as exc:
            self._feed_row.text = None
            raise DecodeError(
                f"CSV header row does not parse ({exc})", part=self._label, line=line, offset=offset, snippet=raw
            ) from exc
        self._set_header(fields, line, offset, raw)

    def _set_header(self, fields: list[str], line: int, offset: int, raw: bytes) -> None:
        names = [name.strip() for name in fields]
        if not any(names):
            raise DecodeError("CSV header row is empty", part=self._label, line=line, offset=offset, snippet=raw)
        seen: dict[str, int] = {}
        unique = []
        for index, name in enumerate(names):
            name = name or f"column_{index + 1}"
            if name in seen:  # never let a duplicate column silently overwrite another
                seen[name] += 1
                name = f"{name}_{seen[name]}"
            seen.setdefault(name, 1)
            unique.append(name)
        self._header = unique
        self._width = len(unique)

    # ------------------------------------------------------------------ errors

    def _bad(self, reason: str, line: int, offset: int, raw: bytes) -> None:
        self._origin.reject(reason, line=line, offset=offset, snippet=raw)

    def _too_long(self) -> None:
        size = self._open_bytes + self._splitter.buffered
        raise LineTooLongError(
            f"CSV row longer than max_line_bytes={self._max_row_bytes} "
            f"({size} bytes so far inside a quoted field)",
            part=self._label,
            line=self.line + 1,
            offset=self.offset,
            snippet=self._open[0][:120] if self._open else b"",
        )

    def _row_too_long(self, row: bytes, line: int, offset: int) -> None:
        raise LineTooLongError(
            f"CSV row of {len(row)} bytes exceeds max_line_bytes={self._max_row_bytes}",
            part=self._label,
            line=line,
            offset=offset,
            snippet=row[:120],
        )

    def _check_row_count(self) -> None:
        expected = self._expected_rows
        if expected is None or expected == self._rows:
            return
        skipped = self._bad_lines.by_part.get(self._label, 0)
        raise RowCountMismatchError(
            self._label,
            f"{self._expected_source} announced {expected} rows but the file has {self._rows} "
            f"data rows ({self._rows - skipped} delivered, {skipped} skipped as bad)",
            expected=expected,
            actual=self._rows,
        )


def _reason(exc: Exception, encoding: str) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"invalid {encoding} ({exc.reason} at byte {exc.start} of the row)"
    return f"malformed CSV row ({exc or 'no fields'})"


def _check_encoding(name: str) -> str:
    try:
        info = codecs.lookup(name)
    except LookupError:
        raise ConfigError(f"unknown CSV encoding {name!r}") from None
    try:
        ascii_compatible = ASCII_COMPATIBLE_PROBE.decode(info.name) == ASCII_COMPATIBLE_PROBE.decode("ascii")
    except UnicodeDecodeError:
        ascii_compatible = False
    if not ascii_compatible:
        raise ConfigError(
            f"CSV encoding {name!r} is not ASCII-compatible; streaming CSV needs one (utf-8, latin-1, cp1252…)"
        )
    return info.name


def parse_whole(data: bytes, *, delimiter: str = ",", encoding: str = "utf-8") -> Sequence[list[str]]:
    """Reference parse of a complete file with the stdlib (tests, tools): rows without blanks."""
    import io

    text = data.decode(encoding)
    if text.startswith("\ufeff"):
        text = text[1:]
    return [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if row]
