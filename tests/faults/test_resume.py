"""Crash-safe resume: the state holds exactly what the sink acknowledged.

A "crash" here is a sink that dies at a chosen batch — before writing it, or
after writing it but before the engine could acknowledge it (the window a
``kill -9`` hits).  The resumed run must complete the output: exactly once
for the JSONL file sink and transactional sinks, at-least-once for others.
"""

from __future__ import annotations

from collections import Counter

import orjson
import pytest

from streamer import CallbackSink, JsonlSink, PartChangedError, RetryPolicy, StreamConfig, run, stream
from streamer.records import Batch
from streamer.simulator import Simulator
from streamer.state import JsonFileStateStore
from tests.support.faults import (
    DyingFileSink,
    SimSource,
    SinkDied,
    assert_at_least_once,
    assert_exactly_once,
    expected_ids,
    ids_in_file,
)
from tests.support.sinks import sqlite_rows

pytestmark = [pytest.mark.faults, pytest.mark.timeout(60)]

CONFIG = StreamConfig(
    concurrency=3, batch_size=100, retry=RetryPolicy(max_attempts=10, initial_delay=0.01, max_delay=0.05)
)


async def _export(sim, *, gzip=False, records=6000, parts=3):
    return [sim.add_export("OrderItem", records=records, parts=parts, gzip=gzip)]


@pytest.mark.parametrize("after_write", [False, True], ids=["dies-before-write", "dies-after-write"])
@pytest.mark.parametrize("flush_interval", [0.0, 3600.0], ids=["save-every-batch", "save-rarely"])
@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
async def test_file_sink_is_exactly_once_across_a_crash(tmp_path, after_write, flush_interval, gzip):
    out, state = tmp_path / "out.jsonl", tmp_path / "state.json"
    async with Simulator(seed=21) as sim:
        exports = await _export(sim, gzip=gzip)
        dying = DyingFileSink(out, die_at=9, after_write=after_write)
        with pytest.raises(SinkDied):
            await run(SimSource(sim, exports), dying, config=CONFIG,
                      state=JsonFileStateStore(state, flush_interval=flush_interval))
        first = ids_in_file(out)
        assert 0 < len(first) < len(expected_ids(exports))
        sim.requests.clear()
        stats = await run(SimSource(sim, exports), JsonlSink(out), config=CONFIG,
                          state=JsonFileStateStore(state, flush_interval=flush_interval))
    assert_exactly_once(ids_in_file(out), expected_ids(exports))
    if flush_interval == 0.0:
        # Resumed at the acknowledged offsets: only the missing records were delivered again.
        assert stats.records == len(expected_ids(exports)) - len(dying.written and _acked(dying))
        ranges = [h.get("Range") for _, _, h in sim.requests if h.get("Range")]
        if not gzip:
            assert ranges, "plain parts must resume with Range at their checkpoint"
            # ... and only from the version the checkpoint was taken from
            assert all(h.get("If-Range") for _, _, h in sim.requests if h.get("Range"))
    doc = orjson.loads(state.read_bytes())
    assert doc["run"]["status"] == "completed"
    assert all(p["done"] for p in doc["parts"].values()) and len(doc["parts"]) == 3


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
async def test_a_file_rewritten_since_the_checkpoint_is_refused_not_spliced(tmp_path, gzip):
    out, state = tmp_path / "out.jsonl", tmp_path / "state.json"
    async with Simulator(seed=27) as sim:
        exports = await _export(sim, gzip=gzip)
        with pytest.raises(SinkDied):
            await run(SimSource(sim, exports), DyingFileSink(out, die_at=9, after_write=False),
                      config=CONFIG, state=state)
        parts = orjson.loads(state.read_bytes())["parts"]
        assert any(p["offset"] > 0 and not p["done"] for p in parts.values())
        assert all(p["etag"] for p in parts.values())  # the version that was read
        for index in range(len(exports[0].files)):
            sim.regenerate_file(exports[0], index)  # same URLs, other records, new ETags
        with pytest.raises(PartChangedError, match="file changed since it was first read"):
            await run(SimSource(sim, exports), JsonlSink(out), config=CONFIG, state=state)


def _acked(sink: DyingFileSink) -> list[str]:
    return [r.data["Id"] for b in sink.written for r in b.records]


async def test_a_sink_that_raises_stops_the_run_and_the_state_stays_at_the_last_acknowledged_batch(tmp_path):
    state = tmp_path / "state.json"
    out = tmp_path / "out.jsonl"
    async with Simulator(seed=22) as sim:
        exports = await _export(sim)
        dying = DyingFileSink(out, die_at=7, after_write=False)
        with pytest.raises(SinkDied, match="disk full at batch 7"):
            await run(SimSource(sim, exports), dying, config=CONFIG, state=state)
    doc = orjson.loads(state.read_bytes())
    assert doc["run"]["status"] == "failed" and "disk full" in doc["run"]["error"]
    last: dict[str, dict] = {}
    for batch in dying.written:
        last[batch.checkpoint.part_key] = {"offset": batch.checkpoint.offset, "line": batch.checkpoint.line}
    saved = {k: {"offset": v["offset"], "line": v["line"]} for k, v in doc["parts"].items()}
    assert saved == last
    assert doc["sink"]["length"] == out.stat().st_size


async def test_callback_sink_is_at_least_once_and_never_loses_a_record(tmp_path):
    state = tmp_path / "state.json"
    seen: list[str] = []
    calls = 0
    unacknowledged: list[str] = []

    def collect_then_die(batch: Batch) -> None:
        nonlocal calls
        calls += 1
        seen.extend(r.data["Id"] for r in batch.records)
        if calls == 8:
            unacknowledged.extend(r.data["Id"] for r in batch.records)
            raise SinkDied("consumer crashed after handling its batch")

    async with Simulator(seed=23) as sim:
        exports = await _export(sim)
        with pytest.raises(SinkDied):
            await run(SimSource(sim, exports), CallbackSink(collect_then_die), config=CONFIG,
                      state=JsonFileStateStore(state, flush_interval=0))
        first = len(seen)
        await run(SimSource(sim, exports), CallbackSink(lambda b: seen.extend(r.data["Id"] for r in b.records)),
                  config=CONFIG, state=state)
    assert_at_least_once(seen, expected_ids(exports))
    # saved after every batch: only the batch handled but not acknowledged comes again, by identity
    again = Counter(seen) - Counter(expected_ids(exports))
    assert unacknowledged and again == Counter(unacknowledged)
    assert first > 0


async def test_transactional_sink_checkpoints_win_over_the_state_file(tmp_path):
    from streamer.sinks import sqlite

    class DyingSqlite(sqlite.SqliteSink):
        writes = 0

        async def write(self, batch: Batch) -> None:
            DyingSqlite.writes += 1
            await super().write(batch)
            if DyingSqlite.writes == 6:
                raise SinkDied("killed after commit")

    db, state = tmp_path / "out.db", tmp_path / "state.json"
    async with Simulator(seed=24) as sim:
        exports = await _export(sim)
        with pytest.raises(SinkDied):
            # the state file is saved rarely: it lags far behind the database
            await run(SimSource(sim, exports), DyingSqlite(db, layout="json"), config=CONFIG,
                      state=JsonFileStateStore(state, flush_interval=3600))
        committed = sum(c.line for c in (await sqlite.SqliteSink(db).load_checkpoints()).values())
        stored_before = [row[0] for row in sqlite_rows(db)["order_item"]]
        resent: list[str] = []

        class CountingSqlite(sqlite.SqliteSink):
            async def write(self, batch: Batch) -> None:
                await super().write(batch)
                resent.extend(r.data["Id"] for r in batch.records)

        stats = await run(SimSource(sim, exports), CountingSqlite(db, layout="json"), config=CONFIG, state=state)
    assert committed > 0 and len(stored_before) == committed
    # resumed from the database's own checkpoints: nothing it committed was sent again, by identity
    assert stats.records == len(expected_ids(exports)) - committed
    assert Counter(stored_before + resent) == Counter(expected_ids(exports))


async def test_finished_run_resumed_again_delivers_nothing(tmp_path):
    out, state = tmp_path / "out.jsonl", tmp_path / "state.json"
    async with Simulator(seed=25) as sim:
        exports = await _export(sim, records=300)
        await run(SimSource(sim, exports), JsonlSink(out), config=CONFIG, state=state)
        again = await run(SimSource(sim, exports), JsonlSink(out), config=CONFIG, state=state)
        assert again.records == 0
        fresh = await run(SimSource(sim, exports), JsonlSink(tmp_path / "b.jsonl"), config=CONFIG,
                          state=state, resume=False)
    assert fresh.records == 300
    assert_exactly_once(ids_in_file(out), expected_ids(exports))


async def test_stream_with_state_resumes_after_the_last_consumed_batch(tmp_path):
    state = tmp_path / "state.json"
    handled: list[str] = []
    async with Simulator(seed=26) as sim:
        exports = await _export(sim, records=1200)
        batches = 0
        async with stream(SimSource(sim, exports), config=CONFIG, state=state) as records:
            async for batch in records.batches():
                batches += 1
                if batches == 5:
                    break  # the 5th batch was not finished: it must come again
                handled.extend(r.data["Id"] for r in batch.records)
        async with stream(SimSource(sim, exports), config=CONFIG, state=state) as records:
            async for record in records:
                handled.append(record.data["Id"])
    assert_exactly_once(handled, expected_ids(exports))
    assert orjson.loads(state.read_bytes())["run"]["status"] == "completed"


async def test_resume_requires_a_state():
    with pytest.raises(TypeError, match="needs state"):
        await run(SimSource(None, []), JsonlSink(None), resume=True)  # type: ignore[arg-type]


async def test_csv_part_resumes_with_its_header_from_the_state_file(tmp_path):
    """The CSV header travels in ``decoder_state`` through the JSON state: the
    resumed decoder names the columns of rows it starts reading mid-file."""
    from streamer import UrlSource
    from tests.support.faults import serve_bytes

    body = b"Id,Amount,Note\r\n" + b"".join(b"r%04d,%d,note %d\r\n" % (i, i * 3, i) for i in range(2000))
    out, state = tmp_path / "out.jsonl", tmp_path / "state.json"
    config = StreamConfig(batch_size=100, retry=RetryPolicy(max_attempts=3, initial_delay=0.01))
    async with serve_bytes({"rows.csv": body}, chunk=4096, content_type="text/csv", pause=0.002) as base:
        source = UrlSource([f"{base}/rows.csv"], format="csv")
        with pytest.raises(SinkDied):
            await run(source, DyingFileSink(out, die_at=4, after_write=True), config=config, state=state)
        saved = orjson.loads(state.read_bytes())["parts"][f"urls/{source.group}/0"]
        assert saved["decoder_state"]["header"] == ["Id", "Amount", "Note"] and saved["line"] > 1
        await run(source, JsonlSink(out), config=config, state=state)
    rows = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert_exactly_once([r["Id"] for r in rows], [f"r{i:04d}" for i in range(2000)])
    assert rows[-1] == {"Id": "r1999", "Amount": "5997", "Note": "note 1999"}
