"""The engine's small pieces, each on its own: batches, the rate floor, local-file answers, run counters.

The end-to-end suites reach them only through a whole run, where a batch
closing one record late, a rate window that never resets or a summary that
says "1 parts" changes nothing that test checks.  The clock is replaced by
a fake one where time matters, so every boundary is asserted exactly.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from streamer.engine import answers, batching, rate
from streamer.engine.answers import LOCAL_CHUNK, file_answer, local_path
from streamer.engine.batching import Batcher
from streamer.engine.rate import RateFloor, TransferTooSlow
from streamer.engine.stats import PartStats, RunStats, plural, records_text
from streamer.engine.validation import IncompleteBody
from streamer.errors import PartError
from streamer.records import Record


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    for module in (batching, rate):
        monkeypatch.setattr(module, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


# ------------------------------------------------------------------ Batcher


class LineDecoder:
    """One "record" (the item's text) per ``;``-terminated item: a Batcher never looks inside."""

    def feed(self, data: bytes, out: list[Record]) -> None:
        out.extend(item.decode() for item in data.split(b";") if item)  # type: ignore[misc]


def test_a_batch_is_due_when_full(clock: Clock) -> None:
    batcher = Batcher(3, 10.0)
    assert batcher.due() is False  # empty: never due
    batcher.feed(LineDecoder(), b"a;b;")  # type: ignore[arg-type]
    assert batcher.due() is False  # 2 of 3, no time passed
    batcher.feed(LineDecoder(), b"c;")  # type: ignore[arg-type]
    assert batcher.due() is True
    assert batcher.take() == ["a", "b", "c"]
    assert batcher.records == [] and batcher.due() is False


def test_a_batch_is_due_when_its_first_record_waited_longer_than_the_delay(clock: Clock) -> None:
    batcher = Batcher(100, 2.0)
    clock.now = 50.0
    batcher.feed(LineDecoder(), b"a;")  # type: ignore[arg-type]  # opens the batch at 50
    clock.now = 51.5
    batcher.feed(LineDecoder(), b"b;")  # type: ignore[arg-type]  # does not move the opening
    clock.now = 52.0
    assert batcher.due() is False  # exactly the delay: not yet
    clock.now = 52.01
    assert batcher.due() is True
    batcher.take()
    clock.now = 60.0
    batcher.feed(LineDecoder(), b"")  # type: ignore[arg-type]  # no record: the batch stays closed
    clock.now = 70.0
    assert batcher.due() is False
    batcher.feed(LineDecoder(), b"c;")  # type: ignore[arg-type]  # the next batch opens at 70, not at 50
    clock.now = 71.0
    assert batcher.due() is False


# ------------------------------------------------------------------ RateFloor


def test_a_window_under_the_floor_is_a_stall(clock: Clock) -> None:
    floor = RateFloor("exp/0", 100, 10.0)
    clock.now = 5.0
    floor.add(500)  # inside the first window: not judged yet
    clock.now = 10.0
    with pytest.raises(TransferTooSlow) as raised:
        floor.add(400)
    assert isinstance(raised.value, IncompleteBody)  # retried with Range like any short body
    assert str(raised.value) == "exp/0: transfer slower than 100 B/s for 10.0s (90.0 B/s): treated as a stall"


def test_each_window_is_judged_on_its_own_bytes(clock: Clock) -> None:
    clock.now = 100.0
    floor = RateFloor("exp/0", 100, 10.0)
    clock.now = 110.0
    floor.add(1000)  # exactly the floor: passes, and a new window starts at 110 with 0 bytes
    clock.now = 115.0
    floor.add(0)  # the new window is 5 s old, not judged yet
    clock.now = 120.0
    with pytest.raises(TransferTooSlow) as raised:
        floor.add(999)
    assert str(raised.value) == "exp/0: transfer slower than 100 B/s for 10.0s (99.9 B/s): treated as a stall"


def test_time_spent_elsewhere_is_not_the_servers(clock: Clock) -> None:
    floor = RateFloor("exp/0", 100, 10.0)
    clock.now = 5.0
    floor.add(100)
    floor.exclude(5.0)  # five seconds handing a batch to the sink
    clock.now = 10.0
    floor.add(400)  # 500 bytes in 5 server seconds: the window is not over
    clock.now = 15.0
    floor.add(500)  # 1000 bytes in 10 server seconds: exactly the floor


def test_a_zero_floor_never_judges(clock: Clock) -> None:
    floor = RateFloor("exp/0", 0, 1.0)
    clock.now = 1000.0
    floor.add(0)
    floor.add(1)


# ------------------------------------------------------------------ local files


def test_local_path() -> None:
    assert local_path("https://example.com/a.jsonl", "p") is None
    assert local_path("file:///tmp/a%20b.jsonl", "p") == Path("/tmp/a b.jsonl")
    assert local_path("file://localhost/tmp/a.jsonl", "p") == Path("/tmp/a.jsonl")
    assert local_path("file://LocalHost/tmp/a.jsonl", "p") == Path("/tmp/a.jsonl")
    with pytest.raises(PartError) as raised:
        local_path("file://fileserver/tmp/a.jsonl", "p")
    assert str(raised.value) == "p: file URL names host 'fileserver': only local files (file:///path) are read"


async def _body(path: Path, offset: int) -> tuple[int, dict[str, str], list[bytes], str]:
    async with file_answer(path, offset, "p") as answer:
        return answer.status, dict(answer.headers), [c async for c in answer.chunks], answer.where


async def test_a_local_file_answers_like_an_honest_server(tmp_path: Path) -> None:
    path = tmp_path / "part.jsonl"
    path.write_bytes(b"0123456789")
    stat = os.stat(path)
    etag = f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
    assert await _body(path, 0) == (200, {"ETag": etag, "Content-Length": "10"}, [b"0123456789"], str(path))
    assert await _body(path, 4) == (
        206, {"ETag": etag, "Content-Length": "6", "Content-Range": "bytes 4-9/10"}, [b"456789"], str(path)
    )
    assert await _body(path, 9) == (
        206, {"ETag": etag, "Content-Length": "1", "Content-Range": "bytes 9-9/10"}, [b"9"], str(path)
    )
    assert await _body(path, 10) == (416, {"Content-Range": "bytes */10"}, [], str(path))
    assert await _body(path, 11) == (416, {"Content-Range": "bytes */10"}, [], str(path))


async def test_a_large_local_file_is_read_in_buffer_sized_chunks(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    data = os.urandom(LOCAL_CHUNK + 1000)
    path.write_bytes(data)
    assert LOCAL_CHUNK == 1 << 18
    _, _, chunks, _ = await _body(path, 0)
    assert [len(c) for c in chunks] == [LOCAL_CHUNK, 1000]
    assert b"".join(chunks) == data


async def test_an_empty_local_file_is_a_200_with_nothing(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    status, headers, chunks, _ = await _body(path, 0)
    assert (status, headers["Content-Length"], chunks) == (200, "0", [])


async def test_a_missing_or_unreadable_local_file(tmp_path: Path) -> None:
    with pytest.raises(PartError) as raised:
        await _body(tmp_path / "nope.jsonl", 0)
    assert str(raised.value) == f"p: no such file: {tmp_path / 'nope.jsonl'}"
    with pytest.raises(PartError) as raised:
        await _body(tmp_path, 0)  # a directory
    assert str(raised.value) == f"p: cannot read {tmp_path}: Is a directory"
    assert answers.LOCAL_CHUNK == LOCAL_CHUNK


# ------------------------------------------------------------------ RunStats


def test_part_stats_are_registered_once() -> None:
    stats = RunStats()
    first = stats.part("k", "name", 10, 5)
    assert first == PartStats(name="name", size=10, expected_records=5)
    assert (first.bytes, first.records, first.retries, first.url_refreshes, first.done) == (0, 0, 0, 0, False)
    first.bytes = 7
    again = stats.part("k", "other", 99, 1)
    assert again is first and again.size == 10 and again.name == "name"
    assert stats.part("j", "j", None).expected_records is None


def test_run_stats_start_empty() -> None:
    stats = RunStats()
    assert (stats.finished, stats.parts, stats.records, stats.bytes, stats.retries) == (None, {}, 0, 0, 0)
    assert (stats.url_refreshes, stats.batches, stats.skipped_lines, stats.stopped_by) == (0, 0, 0, None)
    assert stats.discovering is False


def test_elapsed_uses_the_end_once_finished() -> None:
    assert RunStats(started=10.0, finished=12.5).elapsed == 2.5


def test_expected_bytes_only_when_every_part_is_known_and_sized() -> None:
    stats = RunStats()
    assert stats.expected_bytes is None  # no parts yet
    stats.part("a", "a", 10)
    stats.part("b", "b", 0)
    assert stats.expected_bytes == 10
    stats.discovering = True
    assert stats.expected_bytes is None
    stats.discovering = False
    stats.part("c", "c", None)
    assert stats.expected_bytes is None


def test_expected_records_only_when_every_part_says_and_not_past_it() -> None:
    stats = RunStats()
    assert stats.expected_records is None
    stats.part("a", "a", None, 3)
    stats.part("b", "b", None, 0)
    assert stats.expected_records == 3
    stats.records = 3
    assert stats.expected_records == 3  # reached exactly: still the total
    stats.records = 4
    assert stats.expected_records is None  # the vendor undercounted
    stats.records = 0
    stats.discovering = True
    assert stats.expected_records is None
    stats.discovering = False
    stats.part("c", "c", None)
    assert stats.expected_records is None


@pytest.mark.parametrize(
    ("done", "expected", "text"),
    [
        (0, None, "0 records"),
        (1, None, "1 record"),
        (1234, None, "1,234 records"),
        (40, 100, "40/100 records"),
        (0, 1, "0/1 record"),
        (1, 1, "1/1 record"),
        (5000, 5000, "5,000/5,000 records"),
        (101, 100, "101 records"),
    ],
)
def test_records_text(done: int, expected: int | None, text: str) -> None:
    assert records_text(done, expected) == text


def test_run_stats_records_text() -> None:
    stats = RunStats(records=2)
    stats.part("a", "a", None, 10)
    assert stats.records_text() == "2/10 records"


@pytest.mark.parametrize(
    ("count", "one", "many", "text"),
    [(0, "part", None, "0 parts"), (1, "part", None, "1 part"), (2, "part", None, "2 parts"),
     (1, "retry", "retries", "1 retry"), (3, "retry", "retries", "3 retries")],
)
def test_plural(count: int, one: str, many: str | None, text: str) -> None:
    assert plural(count, one, many) == text


def test_summary_of_a_plain_run() -> None:
    stats = RunStats(started=0.0, finished=2.0, bytes=3_000_000, records=1)
    stats.part("a", "a", None)
    assert stats.summary() == "1 record from 1 part, 3.0 MB in 2.0s (1.5 MB/s)"


def test_summary_with_every_extra() -> None:
    stats = RunStats(started=0.0, finished=4.0, bytes=2_000_000, records=7, retries=1, url_refreshes=2, skipped_lines=3)
    stats.part("a", "a", None, 7)
    stats.part("b", "b", None, 0)
    assert stats.summary() == (
        "7 records from 2 parts (7 announced), 2.0 MB in 4.0s (0.5 MB/s), 1 retry, 2 URL refreshes, 3 bad lines skipped"
    )
    stats.retries, stats.url_refreshes, stats.skipped_lines = 2, 1, 1
    assert stats.summary().endswith(", 2 retries, 1 URL refresh, 1 bad line skipped")


def test_summary_of_a_run_that_took_no_time() -> None:
    assert RunStats(started=5.0, finished=5.0).summary() == "0 records from 0 parts, 0.0 MB in 0.0s (0.0 MB/s)"


def test_summary_rounds_megabytes_of_a_million_bytes() -> None:
    """1 MB is 10**6 bytes: 1,150,001 bytes are 1.2 MB (a divisor one larger would show 1.1)."""
    stats = RunStats(started=0.0, finished=1.0, bytes=1_150_001)
    assert stats.summary() == "0 records from 0 parts, 1.2 MB in 1.0s (1.2 MB/s)"


def test_summary_rate_of_a_run_shorter_than_a_second() -> None:
    stats = RunStats(started=0.0, finished=0.5, bytes=1_000_000)
    assert stats.summary() == "0 records from 0 parts, 1.0 MB in 0.5s (2.0 MB/s)"


# ------------------------------------------------------------------ the package's lazy names


def test_engine_names_load_on_first_use_and_stay() -> None:
    import streamer.engine as engine
    from streamer.engine import config, runner, stats

    for name, home in (("RunStats", stats), ("PartStats", stats), ("StreamConfig", config), ("run_export", runner)):
        engine.__dict__.pop(name, None)
        assert getattr(engine, name) is getattr(home, name)
        assert engine.__dict__[name] is getattr(home, name)  # cached: the next access skips __getattr__
    with pytest.raises(AttributeError) as raised:
        engine.no_such_name  # noqa: B018
    assert str(raised.value) == "module 'streamer.engine' has no attribute 'no_such_name'"
    listed = dir(engine)
    assert listed == sorted(listed)
    assert {"PartStats", "RunStats", "StreamConfig", "run_export", "__getattr__"} <= set(listed)
    assert engine.__all__ == ["PartStats", "RunStats", "StreamConfig", "run_export"]
