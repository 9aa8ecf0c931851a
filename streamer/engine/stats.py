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
    expected_records: int | None = None
    """Records the vendor says the part holds (:attr:`streamer.records.Part.records`)."""
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
    discovering: bool = False
    """True while the source may still yield parts: until then no total is known,
    since a sum over the parts seen so far would grow as parts are discovered."""

    def part(self, key: str, name: str, size: int | None, records: int | None = None) -> PartStats:
        stats = self.parts.get(key)
        if stats is None:
            stats = self.parts[key] = PartStats(name=name, size=size, expected_records=records)
        return stats

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def expected_bytes(self) -> int | None:
        """Sum of every part's size, once all parts are known and each has one (else ``None``)."""
        sizes = [p.size for p in self.parts.values()]
        if self.discovering or not sizes or None in sizes:
            return None
        return sum(sizes)  # type: ignore[arg-type]

    @property
    def expected_records(self) -> int | None:
        """Records the vendor says every part holds, summed, once all parts are known and each says
        (else ``None``; Mews never says).  Records past it (a vendor that undercounts) drop it."""
        counts = [p.expected_records for p in self.parts.values()]
        if self.discovering or not counts or None in counts:
            return None
        total: int = sum(counts)  # type: ignore[arg-type]
        return total if total >= self.records else None

    def records_text(self) -> str:
        return records_text(self.records, self.expected_records)

    def summary(self) -> str:
        rate = self.bytes / self.elapsed / 1e6 if self.elapsed > 0 else 0.0
        expected = self.expected_records
        announced = "" if expected is None else f" ({expected} announced)"
        text = (
            f"{plural(self.records, 'record')} from {plural(len(self.parts), 'part')}{announced}, "
            f"{self.bytes / 1e6:.1f} MB in {self.elapsed:.1f}s ({rate:.1f} MB/s)"
        )
        if self.retries:
            text += f", {plural(self.retries, 'retry', 'retries')}"
        if self.url_refreshes:
            text += f", {plural(self.url_refreshes, 'URL refresh', 'URL refreshes')}"
        if self.skipped_lines:
            text += f", {plural(self.skipped_lines, 'bad line')} skipped"
        return text


def records_text(done: int, expected: int | None) -> str:
    """``1,234/5,000 records`` against a vendor's count, else ``1,234 records`` (also past the count)."""
    if expected is None or expected < done:
        return f"{done:,} {'record' if done == 1 else 'records'}"
    return f"{done:,}/{expected:,} {'record' if expected == 1 else 'records'}"


def plural(count: int, one: str, many: str | None = None) -> str:
    """``1 part``, ``2 parts``, ``0 parts`` (``many`` for irregular plurals)."""
    return f"{count} {one if count == 1 else many or one + 's'}"
