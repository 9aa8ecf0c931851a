"""Bytes in, records out: line framing, gzip and per-format decoders."""

from streamer.decoding.base import (
    BUILTIN_FORMATS,
    Decoder,
    DecoderStart,
    known_formats,
    make_decoder,
    register_decoder,
)
from streamer.decoding.lines import LineSplitter

__all__ = ["BUILTIN_FORMATS", "Decoder", "DecoderStart", "LineSplitter", "known_formats", "make_decoder", "register_decoder"]
