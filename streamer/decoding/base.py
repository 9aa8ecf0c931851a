"""The decoder contract and the format registry.

A decoder turns decoded (already gunzipped) bytes of one part into records.
It owns the framing state, so it alone knows where the last *complete* record
ends: :attr:`Decoder.offset` and :attr:`Decoder.line` are the resume point the
engine checkpoints after every batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from streamer.decoding.badlines import BadLines
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


DecoderFactory = Callable[..., Decoder]
"""``factory(part, *, bad_lines, max_line_bytes, offset, line, state, options)``."""

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
    return decoder_factory(fmt)(
        part,
        bad_lines=bad_lines,
        max_line_bytes=max_line_bytes,
        offset=offset,
        line=line,
        state=state,
        options=options or {},
    )
