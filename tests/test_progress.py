"""The terminal progress display: a total bar (bytes of SizeInBytes, records, rate, ETA) and per-part bars."""

from __future__ import annotations

import io
import re

import anyio

from streamer.cli.progress import progress_bar
from streamer.engine.stats import RunStats
from tests.support.progress import advance


async def test_total_and_per_part_bars_follow_the_stats() -> None:
    stats = RunStats()
    out = io.StringIO()
    first = stats.part("urls/-/0", "part 0 (a.jsonl)", 10_000)
    second = stats.part("urls/-/1", "part 1 (b.jsonl)", 10_000)
    async with progress_bar(stats, enabled=True, interval=0.01, file=out):
        for _ in range(5):
            advance(stats, first, received=1000, records=10)
            advance(stats, second, received=500)
            await anyio.sleep(0.03)
        mid = out.getvalue()
        first.done = True
        await anyio.sleep(0.05)
    text = out.getvalue()
    assert "total:" in mid and "50 records" in mid and "parts 0/2" in mid
    assert "part 0 (a.jsonl)" in mid and "part 1 (b.jsonl)" in mid
    assert "/19.5k" in mid  # bytes against the announced total (2 x 10,000 B)
    # tqdm's [elapsed<remaining]: a real ETA on the total bar, not "<?" (no total known)
    total_lines = [line for line in re.split(r"[\r\n]", mid) if "total:" in line]
    assert any(re.search(r"\d+:\d\d<\d+:\d\d", line) for line in total_lines), total_lines[-3:]
    assert "parts 1/2" in text[len(mid):]


async def test_disabled_writes_nothing() -> None:
    out = io.StringIO()
    async with progress_bar(RunStats(), enabled=False, file=out):
        await anyio.sleep(0.02)
    assert out.getvalue() == ""
