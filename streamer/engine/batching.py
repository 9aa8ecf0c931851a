"""Records collect here between a decoder and the sink, and leave in batches.

A batch closes once it holds ``batch_size`` records, or when its first record
has waited ``batch_delay`` seconds (a slow stream still reaches the sink).
The clock is read only while a batch is open and not yet full.
"""

from __future__ import annotations

import time

from streamer.decoding.base import Decoder
from streamer.records import Record


class Batcher:
    """The open batch of one part."""

    __slots__ = ("records", "_size", "_delay", "_opened")

    def __init__(self, size: int, delay: float) -> None:
        self.records: list[Record] = []
        self._size = size
        self._delay = delay
        self._opened = 0.0

    def feed(self, decoder: Decoder, data: bytes) -> None:
        """Decode ``data`` into the open batch (opening it with its first record)."""
        records = self.records
        empty = not records
        decoder.feed(data, records)
        if empty and records:
            self._opened = time.monotonic()

    def due(self) -> bool:
        records = self.records
        return bool(records) and (len(records) >= self._size or time.monotonic() - self._opened > self._delay)

    def take(self) -> list[Record]:
        records, self.records = self.records, []
        return records
