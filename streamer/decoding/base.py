"""The decoder contract and the format registry.

A decoder turns decoded (already gunzipped) bytes of one part into records.
It owns the framing state, so it alone knows where the last *complete* record
ends: :attr:`Decoder.offset` and :attr:`Decoder.line` are the resume point the
engine checkpoints after every batch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from streamer.decoding.badlines import BadLines
from streamer.decoding.lines import LineSplitter
from streamer.errors import ConfigError, DecodeError
from streamer.records import Format, PartInfo, Record


class Decoder(Protocol):
    offset: int
    """Byte offset just past the last complete record consumed."""
    line: int
    """Number of the last physical line consumed."""

    def feed(self, chunk: bytes, out: list[Record]) -> None:
        """Decode the complete records in ``chunk`` (plus held-over bytes) into ``out``."""

    def finish(self, out: list[Record]) -> None:
        """Flush the final record at end of file; raise if the file ended mid-record."""

    def state(self) -> Mapping[str, Any] | None:
        """What a new decoder needs to restart at :attr:`offset` (e.g. a CSV header)."""


@dataclasses.dataclass(frozen=True, slots=True)
class DecoderStart:
    """Where a decoder begins and whom it tells about bad lines: the one start every format shares.

    Every decoder gets the same six facts; one value carries them, so a new
    format (or a ZIP member's inner decoder) cannot forget or reorder one.
    """

    part: PartInfo
    bad_lines: BadLines
    max_line_bytes: int
    offset: int = 0
    """Byte offset to restart at (0: the start of the part)."""
    line: int = 0
    """Physical lines before :attr:`offset`."""
    state: Mapping[str, Any] | None = None
    """What the previous decoder's :meth:`Decoder.state` returned at :attr:`offset`."""
    label: str = dataclasses.field(init=False)
    """The part as error messages name it."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "label", self.part.describe())

    def splitter(self) -> LineSplitter:
        """A line splitter positioned at this start (for the line-framed formats)."""
        return LineSplitter(part=self.label, max_line_bytes=self.max_line_bytes, offset=self.offset, line=self.line)

    def reject(self, reason: str, *, line: int, offset: int, snippet: bytes) -> None:
        """Hand one bad line or record to the bad-line policy (which may raise)."""
        self.bad_lines.handle(DecodeError(reason, part=self.label, line=line, offset=offset, snippet=snippet))

    def refuse_unknown(self, kind: str, options: Mapping[str, Any]) -> None:
        """A ``ConfigError`` for the options a decoder did not take (a typo must not be ignored)."""
        if options:
            raise ConfigError(f"unknown {kind} decoder options for {self.label}: {sorted(options)}")


DecoderFactory = Callable[[DecoderStart, Mapping[str, Any]], Decoder]
"""``factory(start, options)``: a decoder of one format, positioned at ``start``."""

BUILTIN_FORMATS: Mapping[str, str] = {
    "jsonl": "streamer.decoding.jsonl:JsonlDecoder",
    "csv": "streamer.decoding.csv:CsvDecoder",
    "json": "streamer.decoding.json_array:JsonArrayDecoder",
    "json-api": "streamer.decoding.json_array:json_api_decoder",
    "zip": "streamer.decoding.zip_parts:ZipPartsDecoder",
}
"""The one list of built-in formats: name → ``module:factory``, imported on
first use (csv and json cost nothing until a part needs them)."""

_REGISTERED: dict[str, DecoderFactory] = {}


def register_decoder(fmt: Format, factory: DecoderFactory) -> None:
    """Make a format available to :func:`make_decoder` (a provider adds its own; a built-in can be replaced)."""
    _REGISTERED[fmt] = factory


def known_formats() -> tuple[Format, ...]:
    """Every format :func:`make_decoder` accepts."""
    return tuple(sorted(BUILTIN_FORMATS.keys() | _REGISTERED.keys()))


def decoder_factory(fmt: Format) -> DecoderFactory:
    """The factory of ``fmt``; a ``ValueError`` naming the known formats for any other name."""
    factory = _REGISTERED.get(fmt)
    if factory is not None:
        return factory
    home = BUILTIN_FORMATS.get(fmt)
    if home is None:
        raise ValueError(f"no decoder for format {fmt!r} (known: {', '.join(known_formats())})")
    import importlib

    module, _, name = home.partition(":")
    factory = getattr(importlib.import_module(module), name)
    _REGISTERED[fmt] = factory
    return factory


def make_decoder(
    fmt: Format,
    part: PartInfo,
    *,
    bad_lines: BadLines,
    max_line_bytes: int,
    offset: int = 0,
    line: int = 0,
    state: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
) -> Decoder:
    """A decoder of ``fmt`` for ``part``, positioned at ``offset``/``line`` with the ``state`` saved there."""
    start = DecoderStart(part, bad_lines, max_line_bytes, offset, line, state)
    return decoder_factory(fmt)(start, options or {})
