"""JSON Lines decoding: the hot path.

Per chunk: one ``bytes.split``, then per line one ``orjson.loads`` (to
validate: the dict is dropped at once, so it never reaches the cyclic GC)
and one C-built :class:`~streamer.records.Record` holding the line.  No
per-line ``await``, no copies beyond the join of a held-over tail.  Blank lines (``""``, ``"\\r"``, spaces)
are skipped without a cost on the fast path: they are only recognised after
orjson has rejected them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from streamer.decoding.badlines import BadLines
from streamer.decoding.base import register_decoder
from streamer.decoding.lines import LineSplitter
from streamer.errors import DecodeError
from streamer.records import PartInfo, Record


class JsonlDecoder:
    """Decodes JSON Lines where every non-blank line must be a JSON object."""

    def __init__(
        self,
        part: PartInfo,
        *,
        bad_lines: BadLines,
        max_line_bytes: int,
        offset: int = 0,
        line: int = 0,
        state: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self._part = part
        self._label = part.describe()
        self._bad_lines = bad_lines
        self._splitter = LineSplitter(
            part=self._label, max_line_bytes=max_line_bytes, offset=offset, line=line
        )

    @property
    def offset(self) -> int:
        return self._splitter.offset

    @property
    def line(self) -> int:
        return self._splitter.line

    def state(self) -> Mapping[str, Any] | None:
        return None

    def feed(self, chunk: bytes, out: list[Record]) -> None:
        offset, line = self._splitter.offset, self._splitter.line
        lines = self._splitter.feed(chunk)
        if lines:
            # offset 0: this feed may have stripped a BOM, and line 1 starts after it
            self._decode(lines, offset or self._splitter.bom, line, out)

    def finish(self, out: list[Record]) -> None:
        offset, line = self._splitter.offset, self._splitter.line
        lines = self._splitter.finish()
        if lines:
            self._decode(lines, offset, line, out)

    def _decode(self, lines: list[bytes], offset: int, number: int, out: list[Record]) -> None:
        loads = orjson.loads
        append = out.append
        part = self._part
        for raw in lines:
            number += 1
            if raw:
                try:
                    data = loads(raw)  # validation only: the dict is dropped right away
                except orjson.JSONDecodeError as exc:
                    if raw.strip():
                        self._bad(f"invalid JSON ({exc})", number, offset, raw)
                else:
                    if type(data) is dict:
                        append(Record(None, part, number, offset, raw))
                    else:
                        self._bad(
                            f"expected a JSON object, got {type(data).__name__}", number, offset, raw
                        )
            offset += len(raw) + 1

    def _bad(self, reason: str, line: int, offset: int, raw: bytes) -> None:
        self._bad_lines.handle(
            DecodeError(reason, part=self._label, line=line, offset=offset, snippet=raw)
        )


register_decoder("jsonl", JsonlDecoder)
