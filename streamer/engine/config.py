"""Every knob of a run in one frozen value, with defaults for nightly exports."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from streamer.decoding.badlines import BadLinePolicy
from streamer.http.retry import RetryPolicy
from streamer.http.session import HTTPConfig


@dataclass(frozen=True)
class StreamConfig:
    concurrency: int = 4
    """Parts downloaded at the same time."""
    ordered: bool = False
    """Deliver part 1 fully before part 2 (later parts are prefetched within
    ``prefetch_batches`` each); records of one part are always in file order."""
    batch_size: int = 1000
    """Records per batch handed to the sink (a batch closes at a chunk boundary
    once it holds at least this many, or when ``batch_delay`` passed)."""
    batch_delay: float = 1.0
    """Seconds a non-empty batch may wait for more records on a slow stream."""
    queue_batches: int = 8
    """Batches buffered between all parts and the sink (unordered mode)."""
    prefetch_batches: int = 4
    """Batches buffered per part (ordered mode)."""
    max_line_bytes: int = 16 << 20
    bad_lines: BadLinePolicy = "fail"
    dead_letter: Path | str | None = None
    """JSONL file receiving skipped lines under ``bad_lines="skip"``."""
    check_size: bool = True
    """Fail a part whose byte count differs from its announced size."""
    min_rate_bytes: int = 1024
    """Bytes per second a response must average over ``min_rate_window``, else it is
    abandoned and resumed with ``Range`` (a trickle is a stall); ``0`` turns it off."""
    min_rate_window: float = 30.0
    """Seconds over which ``min_rate_bytes`` is measured (curl's ``--speed-time``)."""
    url_refresh_after: float = 0.8
    """Re-sign a URL before a request once this fraction of its lifetime passed."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    http: HTTPConfig = field(default_factory=HTTPConfig)

    def __post_init__(self) -> None:
        for name in ("concurrency", "batch_size", "queue_batches", "prefetch_batches"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.min_rate_bytes < 0 or self.min_rate_window <= 0:
            raise ValueError("min_rate_bytes must be at least 0 and min_rate_window more than 0")
        if self.max_line_bytes < 1024:
            raise ValueError("max_line_bytes must be at least 1024")
