"""The progress display as a terminal sees it: percentage, ETA, "?" while parts are discovered,
sane per-part rates, plurals, and log lines written above the bars, never through them."""

from __future__ import annotations

import io
import logging
import re
import sys

import anyio
import pytest

from streamer.cli.progress import progress_bar
from streamer.engine.stats import RunStats
from streamer.logs import configure_logging
from tests.support.progress import advance


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def screens(text: str) -> list[str]:
    """Every redraw of a line (tqdm redraws with a carriage return)."""
    return [piece for piece in re.split(r"[\r\n]", text) if piece.strip()]


async def test_known_total_shows_percentage_and_eta() -> None:
    stats = RunStats()
    out = FakeTTY()
    part = stats.part("urls/-/0", "part 0 (a.jsonl)", 100_000)
    async with progress_bar(stats, enabled=True, interval=0.01, file=out):
        for _ in range(4):
            advance(stats, part, received=10_000, records=1)
            await anyio.sleep(0.05)
    totals = [s for s in screens(out.getvalue()) if s.lstrip("\x1b[A").startswith("total")]
    last = totals[-1]
    assert re.search(r"total:\s+40%\|", last), last
    assert re.search(r"39\.1k/97\.7k \[\d\d:\d\d<\d\d:\d\d, ", last), last  # elapsed<ETA
    assert "4 records" in last and "parts 0/1" in last


async def test_no_total_while_parts_are_still_discovered() -> None:
    stats = RunStats(discovering=True)
    out = FakeTTY()
    part = stats.part("mews/x/0", "OrderItem part 1", 50_000)
    async with progress_bar(stats, enabled=True, interval=0.01, file=out):
        part.bytes = stats.bytes = 25_000
        await anyio.sleep(0.05)
        mid = out.getvalue()
        stats.discovering = False
        await anyio.sleep(0.05)
    totals = [s for s in screens(mid) if "total" in s]  # every redraw, the first one too
    assert totals and all("%" not in s and "/?" in s and "parts 0/?" in s for s in totals), totals
    assert re.search(r"total:\s+50%\|", out.getvalue()[len(mid):])


async def test_part_first_drawn_late_has_a_sane_rate() -> None:
    stats = RunStats()
    out = FakeTTY()
    part = stats.part("urls/-/0", "part 0 (big.jsonl)", 1 << 30)
    part.bytes = stats.bytes = 500 << 20  # already received when its bar first appears
    async with progress_bar(stats, enabled=True, interval=0.02, file=out):
        for _ in range(5):
            advance(stats, part, received=1 << 20)
            await anyio.sleep(0.05)
    rates = [
        re.search(r"([\d.]+)([kMGT]?)B/s", screen).groups()  # type: ignore[union-attr]
        for screen in screens(out.getvalue())
        if "part 0 (big.jsonl)" in screen and "B/s" in screen and "?B/s" not in screen
    ]
    assert rates
    scale = {"": 1, "k": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    fastest = max(float(n) * scale[u] for n, u in rates)
    assert fastest < 200 << 20, rates  # ~20 MB/s really; counting the initial 500 MB would say GB/s


async def test_log_lines_go_above_the_bars(monkeypatch: pytest.MonkeyPatch) -> None:
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stderr", tty)
    configure_logging(logging.WARNING)
    stats = RunStats()
    stats.part("urls/-/0", "part 0 (a.jsonl)", 1000)
    async with progress_bar(stats, enabled=True, interval=0.01):
        await anyio.sleep(0.03)
        logging.getLogger("streamer.retry").warning("part 0: retrying in 1.0s")
        print("streamer: created Mews export 42", file=sys.stderr)
        await anyio.sleep(0.03)
    text = tty.getvalue()
    for message in ("streamer: WARNING part 0: retrying in 1.0s\n", "streamer: created Mews export 42\n"):
        at = text.index(message)
        # the bar line was cleared (carriage return + erase) right before the message
        assert text[:at].endswith("\r") or re.search(r"\r(\x1b\[A)?\s*\r?$", text[:at]), repr(text[at - 80 : at])
        assert "total" not in text[at : at + len(message)]
    assert sys.stderr is tty  # restored


def test_summary_plurals() -> None:
    stats = RunStats()
    stats.part("k", "part 0", None)
    stats.records, stats.retries, stats.skipped_lines = 1, 1, 2
    summary = stats.summary()
    assert summary.startswith("1 record from 1 part, ")
    assert ", 1 retry" in summary and ", 2 bad lines skipped" in summary


async def test_the_runs_error_comes_out_unwrapped() -> None:
    """On a terminal a failed run must still end in one line, not an ExceptionGroup traceback."""
    from streamer.errors import PartError

    with pytest.raises(PartError, match="gave up at byte 0"):
        async with progress_bar(RunStats(), enabled=True, interval=0.01, file=FakeTTY()):
            await anyio.sleep(0.02)
            raise PartError("part 0 (x.jsonl)", "gave up at byte 0 after 2 attempts")


async def test_records_against_the_vendors_count() -> None:
    """LogiSense/Rebilly say how many records a part holds: the bars show done/total."""
    stats = RunStats()
    out = FakeTTY()
    part = stats.part("logisense/-/101", "DataExportHistory 101", 10_000, records=1000)
    async with progress_bar(stats, enabled=True, interval=0.01, file=out):
        part.bytes = stats.bytes = 4_000
        part.records = stats.records = 400
        await anyio.sleep(0.05)
    drawn = screens(out.getvalue())
    totals = [s for s in drawn if "total" in s]
    assert re.search(r"total:\s+40%\|", totals[-1]) and "400/1,000 records" in totals[-1], totals[-1]
    assert any("DataExportHistory 101" in s and "400/1,000 records" in s for s in drawn), drawn
    assert stats.summary().startswith("400 records from 1 part (1000 announced), ")
