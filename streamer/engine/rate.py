"""A trickle is a stall: the minimum transfer rate of one response (curl's
``--speed-limit``/``--speed-time``).

The read timeout catches a server that sends nothing; a server that sends one
byte a second never trips it.  :class:`RateFloor` measures each window of
``window`` seconds and gives up on the response when a window carried fewer
than ``min_bytes_per_second * window`` bytes.  Time spent waiting for the sink
is not the server's: the caller excludes it, so backpressure is never taken
for a slow server.
"""

from __future__ import annotations

import time

from streamer.engine.validation import IncompleteBody


class TransferTooSlow(IncompleteBody):
    """A response stayed under the minimum rate for a whole window: resumed with Range."""


class RateFloor:
    __slots__ = ("_label", "_min", "_window", "_start", "_bytes")

    def __init__(self, label: str, min_bytes_per_second: int, window: float) -> None:
        self._label = label
        self._min = min_bytes_per_second
        self._window = window
        self._start = time.monotonic()
        self._bytes = 0

    def add(self, count: int) -> None:
        """Count ``count`` bytes just received; raise when the last window was too slow."""
        if not self._min:
            return
        self._bytes += count
        elapsed = time.monotonic() - self._start
        if elapsed < self._window:
            return
        rate = self._bytes / elapsed
        if rate < self._min:
            raise TransferTooSlow(
                self._label,
                f"transfer slower than {self._min} B/s for {elapsed:.1f}s ({rate:.1f} B/s): treated as a stall",
            )
        self._start += elapsed
        self._bytes = 0

    def exclude(self, seconds: float) -> None:
        """Leave out ``seconds`` the reader spent elsewhere (handing a batch to the sink)."""
        self._start += seconds
