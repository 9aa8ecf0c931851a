"""Counters a run keeps and reports: for progress bars, metrics hooks and tests."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class PartStats:
    name: str
    size: int | None = None
    bytes: int = 0
    """Bytes received from the network (encoded), including re-requests."""
    records: int = 0
    """Records delivered to the sink."""
    retries: int = 0
    url_refreshes: int = 0
    done: bool = False


@dataclass
class RunStats:
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    parts: dict[str, PartStats] = field(default_factory=dict)
    records: int = 0
    bytes: int = 0
    retries: int = 0
    url_refreshes: int = 0
    batches: int = 0
    skipped_lines: int = 0
    stopped_by: str | None = None
    """Name of the signal that stopped the run early and gracefully (``run(stop_on=...)``)."""

    def part(self, key: str, name: str, size: int | None) -> PartStats:
        stats = self.parts.get(key)
        if stats is None:
            stats = self.parts[key] = PartStats(name=name, size=size)
        return stats

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def expected_bytes(self) -> int | None:
        sizes = [p.size for p in self.parts.values()]
        return None if not sizes or None in sizes else sum(sizes)  # type: ignore[arg-type]

    def summary(self) -> str:
        rate = self.bytes / self.elapsed / 1e6 if self.elapsed > 0 else 0.0
        text = (
            f"{self.records} records from {len(self.parts)} parts, "
            f"{self.bytes / 1e6:.1f} MB in {self.elapsed:.1f}s ({rate:.1f} MB/s)"
        )
        if self.retries:
            text += f", {self.retries} retries"
        if self.url_refreshes:
            text += f", {self.url_refreshes} URL refreshes"
        if self.skipped_lines:
            text += f", {self.skipped_lines} bad lines skipped"
        return text
