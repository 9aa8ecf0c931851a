"""Streaming decoding of a JSON array of objects (``[{...},{...}]``) and of JSON:API documents.

Vendors that export "JSON" (Rebilly's ``json`` format) send one array, often
hundreds of MB, sometimes pretty-printed.  Loading it whole is what makes
exporters run out of memory, so this decoder finds element boundaries in the
byte stream and hands each element alone to ``orjson``.

Finding the end of an element without a Python loop over every byte: a
candidate end is a ``}`` followed (after optional whitespace) by ``]``, or by
``,`` and then anything but ``"`` — inside an object a ``},`` is always
followed by a key, so nested objects rarely qualify.  Candidates where the
braces counted so far (``bytes.count``, in C) do not balance are skipped —
that is every ``},{`` of an array nested in the element.  A balanced
candidate is then *proved* by ``orjson.loads`` of the slice from the
element's ``{``: a slice that parses as one JSON value ends exactly at the
element's closing brace, so a success can never be a wrong boundary.

Braces inside strings fool the count.  A balanced candidate that does not
parse (a ``"},{"`` in a string) costs one parse, and after
:data:`FAST_PATH_FAILURES` of them the element is framed by a structural
scanner (strings, escapes, depth).  An element that grows past 8× the
largest element seen (at least :data:`UNPROVEN_MIN`) without a balanced
candidate is framed by the scanner too, and from then on every candidate
is tried, balanced or not.  The scanner also frames non-object and
malformed elements — so a malformed element is reported with its exact
line and offset and, under ``bad_lines="skip"``, skipped without losing the
rest of the array.

Positions: :attr:`offset` is the byte just past the last complete element
and :attr:`line` the number of newlines before it, so a resume restarts
mid-array, between two elements (:meth:`state` says so).  A record's
``offset`` is where its element starts and ``line`` the (1-based) line of
that byte.  The file must be complete: a missing ``]`` is an error, not a
silent end.

``options["member"]`` (used for the ``json-api`` format) names the member of
a top-level object whose array holds the records (``"data"``); the other
members are skipped with bounded memory (their bytes are discarded as they
are scanned).  A ``data`` that is a single object yields one record; ``null``
yields none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from streamer.decoding.base import DecoderStart
from streamer.errors import DecodeError, LineTooLongError, json_type
from streamer.records import Record

BOM = b"\xef\xbb\xbf"
FAST_PATH_FAILURES = 4
"""Balanced candidate ends that failed to parse before an element is framed structurally."""
UNPROVEN_MIN = 64 << 10
"""Bytes an element may grow without a proved end before it is framed structurally."""

_WS = re.compile(rb"[ \t\r\n]*")
_CANDIDATE = re.compile(rb"\}[ \t\r\n]*")
_STRUCTURAL = re.compile(rb'[\[\]{}"]')
_IN_STRING = re.compile(rb'["\\]')
_SCALAR_END = re.compile(rb"[ \t\r\n,\]}]")

# Stages of the grammar, named by what comes next.
START = "start"  # BOM, whitespace, then "[" (or "{" with a member)
FIRST = "first"  # first element or "]"
SEP = "sep"  # "," or "]" after an element
NEXT = "next"  # an element after ","
END = "end"  # only whitespace until EOF
KEY = "key"  # a member name of the wrapper object (or "}" when FIRST_KEY)
FIRST_KEY = "first_key"
COLON = "colon"  # ":" then the member's value
SKIP = "skip"  # inside a member value being discarded
OBJ_SEP = "obj_sep"  # "," or "}" after a member


class _Scanner:
    """Finds where one JSON value ends; resumable across chunks (keeps depth and string state)."""

    __slots__ = ("pos", "depth", "in_string", "escape", "scalar", "started")

    def __init__(self, pos: int) -> None:
        self.pos = pos
        self.depth = 0
        self.in_string = False
        self.escape = False
        self.scalar = False
        self.started = False

    def shift(self, by: int) -> None:
        self.pos -= by

    def end(self, buf: bytearray, final: bool) -> int | None:
        """Index just past the value, or ``None`` if ``buf`` ends first."""
        pos = self.pos
        n = len(buf)
        if not self.started:
            if pos >= n:
                return None
            self.started = True
            first = buf[pos]
            if first in b"{[":
                self.depth = 1
                pos += 1
            elif first == 0x22:  # '"'
                self.in_string = True
                pos += 1
            else:
                self.scalar = True
        if self.scalar:
            match = _SCALAR_END.search(buf, pos)
            if match is None:
                self.pos = n
                return n if final else None
            return match.start()
        while True:
            if self.escape:
                if pos >= n:
                    self.pos = pos
                    return None
                pos += 1
                self.escape = False
            if self.in_string:
                match = _IN_STRING.search(buf, pos)
                if match is None:
                    self.pos = n
                    return None
                pos = match.end()
                if buf[match.start()] == 0x5C:  # backslash: the next byte is escaped
                    self.escape = True
                    continue
                self.in_string = False
                if self.depth == 0:
                    return pos
                continue
            match = _STRUCTURAL.search(buf, pos)
            if match is None:
                self.pos = n
                return None
            pos = match.end()
            char = buf[match.start()]
            if char == 0x22:
                self.in_string = True
            elif char in b"{[":
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth == 0:
                    return pos


class JsonArrayDecoder:
    """Decodes a JSON array whose elements are objects, one record per element."""

    def __init__(self, start: DecoderStart, options: Mapping[str, Any]) -> None:
        offset, line, state = start.offset, start.line, start.state
        self._origin = start
        self._part = start.part
        self._label = start.label
        self._max = start.max_line_bytes
        self._member: str | None = options.get("member")
        self._buf = bytearray()
        self._base = offset  # absolute offset of _buf[0]
        self._pos = 0  # everything before it is consumed
        self._newlines = line  # newlines before _base + _pos
        self.offset = offset
        self.line = line
        if offset == 0:
            self._stage = START
        else:
            self._stage = (state or {}).get("stage", SEP)
        self._resume_stage = self._stage
        self._bom_checked = offset > 0
        self._in_array = self._stage in (FIRST, SEP, NEXT)
        # The element being framed.
        self._elem: int | None = None
        self._cand_from = self._counted = 0
        self._opens = self._closes = 0
        self._failures = 0
        self._lenient = False
        """Set once braces inside strings were seen to defeat the balance check."""
        self._unproven_limit = UNPROVEN_MIN
        """Bytes an element may grow without a proved end: 8× the largest element seen."""
        self._scanner: _Scanner | None = None
        # The wrapper's member value being skipped / its key.
        self._key: str | None = None

    # ----------------------------------------------------------- contract

    def state(self) -> Mapping[str, Any] | None:
        return {"stage": self._resume_stage}

    def feed(self, chunk: bytes, out: list[Record]) -> None:
        self._buf += chunk
        self._run(out, final=False)
        self._compact()

    def finish(self, out: list[Record]) -> None:
        self._run(out, final=True)
        if self._stage != END:
            where = "inside an element" if self._elem is not None else f"(expecting {self._expecting()})"
            start = self._elem if self._elem is not None else self._pos
            raise DecodeError(
                f"the JSON document ended early {where}: the file is truncated",
                part=self._label,
                line=self._line_at(start) + 1,
                offset=self._base + start,
                snippet=bytes(self._buf[start : start + 120]),
            )

    # ------------------------------------------------------------ driving

    def _run(self, out: list[Record], final: bool) -> None:
        step = {
            START: self._start,
            FIRST: self._first,
            SEP: self._sep,
            NEXT: self._next,
            END: self._end,
            FIRST_KEY: self._first_key,
            KEY: self._key_step,
            COLON: self._colon,
            SKIP: self._skip,
            OBJ_SEP: self._obj_sep,
        }
        while True:
            if self._elem is None and self._in_array and self._stage in (SEP, NEXT) and not self._lenient:
                self._fast(out)
            if not step[self._stage](out, final):
                break

    def _fast(self, out: list[Record]) -> None:
        """Frame, parse and emit every complete object element in the buffer, inline.

        The common case (an array of objects) without the per-element method
        calls of the general grammar; anything unusual (a non-object element,
        an element that does not parse, the end of the array or of the
        buffer) is left to the general path.
        """
        buf = self._buf
        n = len(buf)
        pos = scan = self._pos
        newlines = self._newlines
        stage = self._stage
        base = self._base
        part = self._part
        append = out.append
        loads = orjson.loads
        search = _CANDIDATE.search
        skip_ws = _WS.match
        count = buf.count
        last_end = last_newlines = -1
        biggest = 0
        with memoryview(buf) as view:
            while True:
                start = skip_ws(buf, scan).end()  # type: ignore[union-attr]
                if start >= n:
                    break
                char = buf[start]
                if stage == SEP:
                    if char != 0x2C:
                        break
                    scan = start + 1
                    stage = NEXT
                    continue
                if char != 0x7B:
                    break
                found = _proved_end(buf, view, start, n, search, skip_ws, count, loads)
                if found is None:
                    break
                end, value = found
                line = newlines + count(b"\n", pos, start)
                if type(value) is dict:
                    append(Record(value, part, line + 1, base + start))
                else:
                    self._bad(f"expected a JSON object, got {json_type(value)}", line + 1, start, end)
                newlines = line + count(b"\n", start, end)
                if end - start > biggest:
                    biggest = end - start
                pos = scan = last_end = end
                last_newlines = newlines
                stage = SEP
        if stage == NEXT:  # a ',' was consumed: move past it so the general path sees the element
            newlines += count(b"\n", pos, scan)
            pos = scan
        self._pos = pos
        self._newlines = newlines
        self._stage = stage
        self._unproven_limit = max(self._unproven_limit, 8 * biggest)
        if last_end >= 0:
            self.offset = base + last_end
            self.line = last_newlines
            self._resume_stage = SEP

    def _compact(self) -> None:
        keep = self._pos if self._elem is None else self._elem
        if self._stage == SKIP and self._scanner is not None:
            # A skipped member value: its scanned bytes are not needed again.
            keep = self._scanner.pos
            self._newlines += self._buf.count(b"\n", self._pos, keep)
            self._pos = keep
        if keep < 65536 and keep * 2 < len(self._buf):
            return  # cheap to keep; avoids a memmove per small chunk
        if keep:
            del self._buf[:keep]
            self._base += keep
            self._pos -= keep
            if self._elem is not None:
                self._elem -= keep
                self._cand_from -= keep
                self._counted -= keep
            if self._scanner is not None:
                self._scanner.shift(keep)

    def _skip_ws(self) -> bool:
        """Advance over whitespace; ``True`` if a non-space byte is available."""
        self._consume(_WS.match(self._buf, self._pos).end())  # type: ignore[union-attr]
        return self._pos < len(self._buf)

    def _consume(self, upto: int) -> None:
        self._newlines += self._buf.count(b"\n", self._pos, upto)
        self._pos = upto

    def _line_at(self, index: int) -> int:
        return self._newlines + self._buf.count(b"\n", self._pos, index)

    def _expecting(self) -> str:
        return {
            START: "'[' or '{'",
            FIRST: "an element or ']'",
            SEP: "',' or ']'",
            NEXT: "an element",
            FIRST_KEY: "a member name or '}'",
            KEY: "a member name",
            COLON: "':' and a value",
            SKIP: "the end of a member value",
            OBJ_SEP: "',' or '}'",
        }.get(self._stage, "the end of the file")

    def _syntax(self, reason: str) -> DecodeError:
        pos = self._pos
        return DecodeError(
            reason,
            part=self._label,
            line=self._line_at(pos) + 1,
            offset=self._base + pos,
            snippet=bytes(self._buf[pos : pos + 120]),
        )

    # ------------------------------------------------------------ grammar

    def _start(self, out: list[Record], final: bool) -> bool:
        if not self._bom_checked:
            head = bytes(self._buf[:3])
            if len(head) < 3 and BOM.startswith(head) and not final:
                return False
            self._bom_checked = True
            if head == BOM:
                self._consume(3)
        if not self._skip_ws():
            return False
        char = self._buf[self._pos]
        if self._member is None:
            if char != 0x5B:  # '['
                raise self._syntax(f"expected a JSON array ('['), found {chr(char)!r}")
            self._consume(self._pos + 1)
            self._stage = FIRST
            self._in_array = True
        else:
            if char != 0x7B:  # '{'
                raise self._syntax(f"expected a JSON object ('{{') holding {self._member!r}, found {chr(char)!r}")
            self._consume(self._pos + 1)
            self._stage = FIRST_KEY
        return True

    def _first(self, out: list[Record], final: bool) -> bool:
        if not self._skip_ws():
            return False
        if self._buf[self._pos] == 0x5D:  # ']': empty array
            self._close_array()
            return True
        self._stage = NEXT
        return True

    def _sep(self, out: list[Record], final: bool) -> bool:
        if not self._skip_ws():
            return False
        char = self._buf[self._pos]
        if char == 0x2C:  # ','
            self._consume(self._pos + 1)
            self._stage = NEXT
            return True
        if char == 0x5D:
            self._close_array()
            return True
        raise self._syntax(f"expected ',' or ']' after an array element, found {chr(char)!r}")

    def _next(self, out: list[Record], final: bool) -> bool:
        if self._elem is None:
            if not self._skip_ws():
                return False
            if self._buf[self._pos] == 0x5D:
                raise self._syntax("trailing ',' before ']' in the JSON array")
            self._begin_element()
        end = self._element_end(final)
        if end is None:
            return False
        self._emit(end, out)
        self._stage = SEP if self._in_array else OBJ_SEP
        self._mark_resume()
        return True

    def _close_array(self) -> None:
        self._consume(self._pos + 1)
        self._in_array = False
        self._stage = END if self._member is None else OBJ_SEP

    def _end(self, out: list[Record], final: bool) -> bool:
        if self._skip_ws():
            raise self._syntax("unexpected data after the end of the JSON document")
        return False

    # JSON:API wrapper object ------------------------------------------------

    def _first_key(self, out: list[Record], final: bool) -> bool:
        if not self._skip_ws():
            return False
        if self._buf[self._pos] == 0x7D:  # '}': {} has no records
            self._consume(self._pos + 1)
            self._stage = END
            return True
        self._stage = KEY
        return True

    def _key_step(self, out: list[Record], final: bool) -> bool:
        if not self._skip_ws():
            return False
        if self._buf[self._pos] != 0x22:
            raise self._syntax("expected a member name (a JSON string)")
        end = _Scanner(self._pos).end(self._buf, final)
        if end is None:
            return False
        try:
            self._key = orjson.loads(bytes(self._buf[self._pos : end]))
        except orjson.JSONDecodeError as exc:
            raise self._syntax(f"invalid member name ({exc})") from None
        self._consume(end)
        self._stage = COLON
        return True

    def _colon(self, out: list[Record], final: bool) -> bool:
        if not self._skip_ws():
            return False
        if self._buf[self._pos] != 0x3A:  # ':'
            raise self._syntax(f"expected ':' after the member name {self._key!r}")
        after = _WS.match(self._buf, self._pos + 1).end()  # type: ignore[union-attr]
        if after >= len(self._buf):
            return False
        self._consume(after)
        char = self._buf[after]
        if self._key == self._member and char == 0x5B:
            self._consume(after + 1)
            self._stage = FIRST
            self._in_array = True
        elif self._key == self._member and char == 0x7B:
            self._stage = NEXT  # a single resource object: one record
        else:
            self._scanner = _Scanner(after)
            self._stage = SKIP
        return True

    def _skip(self, out: list[Record], final: bool) -> bool:
        assert self._scanner is not None
        end = self._scanner.end(self._buf, final)
        if end is None:
            return False
        self._scanner = None
        self._consume(end)
        self._stage = OBJ_SEP
        return True

    def _obj_sep(self, out: list[Record], final: bool) -> bool:
        if not self._skip_ws():
            return False
        char = self._buf[self._pos]
        if char == 0x2C:
            self._consume(self._pos + 1)
            self._stage = KEY
            return True
        if char == 0x7D:
            self._consume(self._pos + 1)
            self._stage = END
            return True
        raise self._syntax(f"expected ',' or '}}' after a member, found {chr(char)!r}")

    # ----------------------------------------------------------- elements

    def _begin_element(self) -> None:
        self._elem = self._pos
        self._cand_from = self._counted = self._pos + 1
        self._opens, self._closes = 1, 0
        self._failures = 0
        self._scanner = None if self._buf[self._pos] == 0x7B else _Scanner(self._pos)

    def _element_end(self, final: bool) -> tuple[int, Any] | None:
        """(end index, parsed value or the exception) of the current element, if complete."""
        start = self._elem
        assert start is not None
        buf = self._buf
        if self._scanner is None:
            with memoryview(buf) as view:
                while True:
                    match = _CANDIDATE.search(buf, self._cand_from)
                    if match is None:
                        self._cand_from = len(buf)
                        break
                    after = match.end()
                    if after >= len(buf):
                        self._cand_from = match.start()
                        break
                    follower = buf[after]
                    if follower == 0x2C:  # ','
                        nxt = _WS.match(buf, after + 1).end()  # type: ignore[union-attr]
                        if nxt >= len(buf):
                            self._cand_from = match.start()
                            break
                        if buf[nxt] == 0x22:  # a key follows: inside the object
                            self._cand_from = match.start() + 1
                            continue
                    elif follower != 0x5D and not (follower == 0x7D and not self._in_array):
                        self._cand_from = match.start() + 1
                        continue
                    end = match.start() + 1
                    self._opens += buf.count(b"{", self._counted, end)
                    self._closes += buf.count(b"}", self._counted, end)
                    self._counted = end
                    if self._opens != self._closes and not self._lenient:  # a nested object closes here
                        self._cand_from = end
                        continue
                    try:
                        value = orjson.loads(view[start:end])
                    except orjson.JSONDecodeError:
                        self._failures += 1
                        self._cand_from = end
                        if self._failures >= FAST_PATH_FAILURES:
                            self._scanner = _Scanner(start)
                            break
                        continue
                    return end, value
        if self._scanner is None and len(buf) - start > self._unproven_limit:
            # Braces inside strings keep the balance off: frame this element exactly, and from
            # now on try to parse unbalanced candidates too.
            self._scanner = _Scanner(start)
            self._lenient = True
        if self._scanner is not None:
            end = self._scanner.end(buf, final)
            if end is not None:
                try:
                    with memoryview(buf) as view:
                        value = orjson.loads(view[start:end])
                except orjson.JSONDecodeError as exc:
                    value = exc
                self._scanner = None
                return end, value
        if len(buf) - start > self._max:
            raise LineTooLongError(
                f"JSON element longer than max_line_bytes={self._max} (not complete after "
                f"{len(buf) - start} bytes)",
                part=self._label,
                line=self._line_at(start) + 1,
                offset=self._base + start,
                snippet=bytes(buf[start : start + 120]),
            )
        if final and self._scanner is None:
            # No candidate ever proved the element: frame it structurally to report it exactly.
            self._scanner = _Scanner(start)
            return self._element_end(final)
        return None

    def _emit(self, found: tuple[int, Any], out: list[Record]) -> None:
        end, value = found
        start = self._elem
        assert start is not None
        self._unproven_limit = max(self._unproven_limit, 8 * (end - start))
        line = self._line_at(start)
        self._newlines = line
        self._pos = start
        if isinstance(value, Exception):
            self._bad(f"invalid JSON element ({value})", line + 1, start, end)
        elif type(value) is dict:
            out.append(Record(value, self._part, line + 1, self._base + start))
        else:
            self._bad(f"expected a JSON object, got {json_type(value)}", line + 1, start, end)
        self._consume(end)
        self._elem = None

    def _mark_resume(self) -> None:
        self.offset = self._base + self._pos
        self.line = self._newlines
        self._resume_stage = self._stage

    def _bad(self, reason: str, line: int, start: int, end: int) -> None:
        self._origin.reject(reason, line=line, offset=self._base + start, snippet=bytes(self._buf[start:end]))


def _proved_end(
    buf: bytearray,
    view: memoryview,
    start: int,
    n: int,
    search: Any,
    skip_ws: Any,
    count: Any,
    loads: Any,
) -> tuple[int, Any] | None:
    """End and value of the object starting at ``start``, if a candidate end proves it.

    Candidates are filtered by brace balance first (counted incrementally, in
    C), so ``},{`` inside arrays nested in the element cost no failed parse.
    ``None`` when the buffer ends first or balanced candidates keep failing
    to parse (the caller's careful path then frames the element).
    """
    cand = counted = start + 1
    opens, closes = 1, 0
    failures = 0
    while True:
        match = search(buf, cand)
        if match is None:
            return None
        brace = match.start()
        after = match.end()
        if after >= n:
            return None
        follower = buf[after]
        if follower == 0x2C:
            nxt = skip_ws(buf, after + 1).end()
            if nxt >= n:
                return None
            if buf[nxt] == 0x22:
                cand = brace + 1
                continue
        elif follower != 0x5D:
            cand = brace + 1
            continue
        end = brace + 1
        opens += count(b"{", counted, end)
        closes += count(b"}", counted, end)
        counted = end
        if opens != closes:
            cand = end
            continue
        try:
            return end, loads(view[start:end])
        except orjson.JSONDecodeError:  # e.g. a "},{" inside a string: try the next candidate
            failures += 1
            if failures >= FAST_PATH_FAILURES:
                return None
            cand = end


def json_api_decoder(start: DecoderStart, options: Mapping[str, Any]) -> JsonArrayDecoder:
    """JSON:API documents: the records are the resource objects of ``data``."""
    return JsonArrayDecoder(start, {"member": "data", **options})
