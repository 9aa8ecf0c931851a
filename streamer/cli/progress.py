"""Progress on stderr (tqdm), only when stderr is a terminal.

One total bar — bytes received against the sum of the parts' announced
sizes (``SizeInBytes``), with records, record rate, byte rate and ETA — and
one bar per part being downloaded (at most ``max_part_bars``; a part's bar
goes away when it is done).  Bars are redrawn from :class:`RunStats` every
``interval`` seconds by a task of their own: the hot path never touches them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any, TextIO

import anyio

from streamer.assembly import RunStats


class ProgressDisplay:
    """The bars; :meth:`refresh` syncs them with the stats (called periodically)."""

    def __init__(self, stats: RunStats, *, file: TextIO | None = None, max_part_bars: int = 8) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self.stats = stats
        self.file = file
        self.max_part_bars = max_part_bars
        self.total = tqdm(
            desc="total", unit="B", unit_scale=True, unit_divisor=1024, dynamic_ncols=True, leave=False,
            file=file, position=0,
        )
        self.parts: dict[str, Any] = {}
        self._started = time.monotonic()

    def refresh(self) -> None:
        stats = self.stats
        done = sum(1 for p in stats.parts.values() if p.done)
        self.total.total = stats.expected_bytes
        self.total.update(stats.bytes - self.total.n)  # update(), not n=: tqdm derives rate and ETA from it
        elapsed = max(time.monotonic() - self._started, 1e-9)
        self.total.set_postfix_str(
            f"{stats.records:,} records ({stats.records / elapsed:,.0f}/s), parts {done}/{len(stats.parts)}"
            + (f", {stats.retries} retries" if stats.retries else ""),
            refresh=False,
        )
        self.total.refresh()
        for key, part in stats.parts.items():
            bar = self.parts.get(key)
            if part.done:
                if bar is not None:
                    bar.close()
                    del self.parts[key]
                continue
            if bar is None:
                if len(self.parts) >= self.max_part_bars or part.bytes == 0:
                    continue
                bar = self.parts[key] = self._tqdm(
                    desc=part.name[:40], total=part.size, unit="B", unit_scale=True, unit_divisor=1024,
                    dynamic_ncols=True, leave=False, file=self.file, position=len(self.parts) + 1,
                )
            bar.update(part.bytes - bar.n)
            bar.set_postfix_str(f"{part.records:,} records", refresh=False)
            bar.refresh()

    def close(self) -> None:
        for bar in self.parts.values():
            bar.close()
        self.parts.clear()
        self.total.close()


@contextlib.asynccontextmanager
async def progress_bar(
    stats: RunStats,
    *,
    enabled: bool,
    interval: float = 0.25,
    file: TextIO | None = None,
    max_part_bars: int = 8,
) -> AsyncIterator[None]:
    if not enabled:
        yield
        return
    display = ProgressDisplay(stats, file=file, max_part_bars=max_part_bars)

    async def refresh() -> None:
        while True:
            display.refresh()
            await anyio.sleep(interval)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(refresh)
            try:
                yield
            finally:
                tg.cancel_scope.cancel()
    finally:
        display.refresh()
        display.close()
