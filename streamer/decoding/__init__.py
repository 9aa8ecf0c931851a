"""Bytes in, records out: line framing, gzip and per-format decoders."""

from streamer.decoding.base import Decoder, make_decoder
from streamer.decoding.lines import LineSplitter

__all__ = ["Decoder", "LineSplitter", "make_decoder"]
