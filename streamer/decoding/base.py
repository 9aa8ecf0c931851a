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

_FACTORIES: dict[str, DecoderFactory] = {}


def register_decoder(fmt: str, factory: DecoderFactory) -> None:
    """Make a format available to :func:`make_decoder` (providers add their own)."""
    _FACTORIES[fmt] = factory


def make_decoder(
    fmt: Format | str,
    part: PartInfo,
    *,
    bad_lines: BadLines,
    max_line_bytes: int,
    offset: int = 0,
    line: int = 0,
    state: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
) -> Decoder:
    if fmt not in _FACTORIES:
        _load_builtin(fmt)
    try:
        factory = _FACTORIES[fmt]
    except KeyError:
        known = ", ".join(sorted(_FACTORIES))
        raise ValueError(f"no decoder for format {fmt!r} (known: {known})") from None
    return factory(
        part,
        bad_lines=bad_lines,
        max_line_bytes=max_line_bytes,
        offset=offset,
        line=line,
        state=state,
        options=options or {},
    )


def _load_builtin(fmt: str) -> None:
    """Import the module of a built-in format lazily (csv and json cost nothing until used)."""
    import importlib

    module = {"jsonl": "jsonl", "csv": "csv", "json": "json_array", "json-api": "json_array", "zip": "zip_parts"}.get(fmt)
    if module:
        try:
            importlib.import_module(f"streamer.decoding.{module}")
        except ModuleNotFoundError:
            pass
