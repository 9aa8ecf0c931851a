"""Fault knobs for the simulator, driven by a seeded RNG so failures reproduce.

Keys name files as ``"<export id>/<part index>"``; ``"*"`` applies to every file.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field


@dataclass
class FaultPlan:
    seed: int = 0
    drop_at: dict[str, list[int]] = field(default_factory=dict)
    """Cut the connection when the response reaches these absolute byte offsets (each fires once)."""
    drop_rate: float = 0.0
    """Probability that a file response is cut at a random byte."""
    error_rate: float = 0.0
    """Probability of a 503 on any request (files and vendor APIs)."""
    throttle_rate: float = 0.0
    """Probability of a 429 with ``Retry-After`` on any request."""
    retry_after: float = 0.1
    stall_at: dict[str, int] = field(default_factory=dict)
    """Stop sending at this byte without closing (read-timeout test); fires once."""
    stall_seconds: float = 3600.0
    bytes_per_second: float | None = None
    """Throttle every file response to this rate (slow server)."""
    short_by: dict[str, int] = field(default_factory=dict)
    """Serve this many bytes fewer than the announced size, every time."""
    html_for: set[str] = field(default_factory=set)
    """Answer these files with an HTML error page and status 200."""
    ignore_range: bool = False
    """Answer ``Range`` requests with the whole file (200), as some servers do."""
    chunked: bool = False
    """Send files chunked, without ``Content-Length``, as streaming servers do
    (then only the announced size or the body itself can show a short file)."""

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self.injected: dict[str, int] = {}

    def _count(self, what: str) -> None:
        self.injected[what] = self.injected.get(what, 0) + 1

    def roll_status(self) -> int | None:
        """429 or 503 by the configured rates, else ``None``."""
        with self._lock:
            roll = self._rng.random()
            if roll < self.throttle_rate:
                self._count("429")
                return 429
            if roll < self.throttle_rate + self.error_rate:
                self._count("503")
                return 503
            return None

    def cut_point(self, key: str, start: int, end: int) -> int | None:
        """Where to cut a response covering ``[start, end)``, if anywhere."""
        with self._lock:
            for name in (key, "*"):
                offsets = self.drop_at.get(name)
                if offsets:
                    for offset in sorted(offsets):
                        if start < offset < end:
                            offsets.remove(offset)
                            self._count("drop")
                            return offset
            if self.drop_rate and end - start > 1 and self._rng.random() < self.drop_rate:
                self._count("drop")
                return self._rng.randrange(start + 1, end)
            return None

    def stall_point(self, key: str, start: int, end: int) -> int | None:
        with self._lock:
            offset = self.stall_at.get(key, self.stall_at.get("*"))
            if offset is not None and start <= offset < end:
                self.stall_at.pop(key, None) or self.stall_at.pop("*", None)
                self._count("stall")
                return offset
            return None

    def shortfall(self, key: str) -> int:
        return self.short_by.get(key, self.short_by.get("*", 0))

    def html(self, key: str) -> bool:
        return key in self.html_for or "*" in self.html_for
