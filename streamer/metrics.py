"""Progress figures a worker can report: records, bytes, retries, rates, lag, ETA.

The engine calls ``on_progress(stats)`` with its live :class:`RunStats`
every ``progress_interval`` seconds (``streamer.run(..., on_progress=...)``);
:class:`Progress` turns those counters into the figures a dashboard wants,
and :func:`log_progress` is a ready-made hook that logs them as one
structured record (``extra={"progress": {...}}``), which the CLI's
``--log-format json`` writes as a JSON field.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from streamer.engine.stats import RunStats, plural


@dataclass(frozen=True)
class Progress:
    """One snapshot of a run."""

    records: int
    bytes: int
    """Bytes received so far (as stored: compressed for .gz parts)."""
    expected_bytes: int | None
    """Sum of the parts' sizes (announced by the export, e.g. ``SizeInBytes``, or by a part's
    first response), once the source has named every part and each has one; else ``None``."""
    parts_done: int
    parts_seen: int
    retries: int
    url_refreshes: int
    skipped_lines: int
    elapsed: float
    records_per_second: float
    bytes_per_second: float
    lag_bytes: int | None
    """How far the sink is behind the announced end of the export, in bytes."""
    eta_seconds: float | None
    """``lag_bytes`` at the average rate so far (``None`` while unknown)."""

    @classmethod
    def of(cls, stats: RunStats) -> Progress:
        elapsed = stats.elapsed
        expected = stats.expected_bytes
        byte_rate = stats.bytes / elapsed if elapsed > 0 else 0.0
        lag = None if expected is None else max(expected - stats.bytes, 0)
        eta = None if lag is None or byte_rate <= 0 else lag / byte_rate
        return cls(
            records=stats.records,
            bytes=stats.bytes,
            expected_bytes=expected,
            parts_done=sum(1 for p in stats.parts.values() if p.done),
            parts_seen=len(stats.parts),
            retries=stats.retries,
            url_refreshes=stats.url_refreshes,
            skipped_lines=stats.skipped_lines,
            elapsed=round(elapsed, 3),
            records_per_second=round(stats.records / elapsed, 1) if elapsed > 0 else 0.0,
            bytes_per_second=round(byte_rate, 1),
            lag_bytes=lag,
            eta_seconds=None if eta is None else round(eta, 1),
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        text = f"{plural(self.records, 'record')}, {self.bytes / 1e6:.1f} MB"
        if self.expected_bytes:
            text += f" of {self.expected_bytes / 1e6:.1f} MB"
        text += f", {self.records_per_second:,.0f} records/s, parts {self.parts_done}/{self.parts_seen}"
        if self.retries:
            text += f", {plural(self.retries, 'retry', 'retries')}"
        if self.eta_seconds is not None:
            text += f", ETA {self.eta_seconds:.0f}s"
        return text


def log_progress(logger: logging.Logger | str = "streamer.progress", level: int = logging.INFO) -> Callable[[RunStats], None]:
    """An ``on_progress`` hook that logs a :class:`Progress` snapshot per call."""
    log = logging.getLogger(logger) if isinstance(logger, str) else logger

    def hook(stats: RunStats) -> None:
        if log.isEnabledFor(level):
            progress = Progress.of(stats)
            log.log(level, "progress: %s", progress.describe(), extra={"progress": progress.as_dict()})

    return hook
