"""Incremental Mews exports against the simulator's changing records and real sinks.

A full run, then simulated hours of changes, then an incremental run: every
Id is in the table once with its latest version (a record updated while the
first run was streaming included), the bookmark advanced to the window's
end, and the second export asked only for the changes since the bookmark
minus the overlap.
"""

from __future__ import annotations

import sqlite3
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import duckdb
import orjson
import pytest

import streamer
from streamer.incremental.windows import Incremental
from streamer.sinks.directory import DirSink
from streamer.sinks.duckdb import DuckDBSink
from streamer.sinks.postgres import PostgresSink
from streamer.sinks.sqlite import SqliteSink
from tests.support.mews import mews_simulator, mews_source
from tests.support.pg_fixture import postgres_dsn  # noqa: F401  (fixture)

pytestmark = pytest.mark.timeout(60)


class Target:
    """A sink of one kind, and how to read back what it holds."""

    def __init__(self, kind: str, tmp_path: Path, dsn: str | None) -> None:
        self.kind, self.tmp_path, self.dsn = kind, tmp_path, dsn
        self.schema = f"inc_{uuid.uuid4().hex[:8]}"

    def sink(self) -> Any:
        if self.kind == "sqlite":
            return SqliteSink(self.tmp_path / "out.db", layout="json")
        if self.kind == "dir":
            return DirSink(self.tmp_path / "out")
        if self.kind == "duckdb":
            return DuckDBSink(self.tmp_path / "out.duckdb", layout="json")
        return PostgresSink(self.dsn, schema=self.schema, layout="json")

    async def lines(self) -> list[dict[str, Any]]:
        """Every record held, in delivery order for ``dir`` (a change log), by Id for tables."""
        if self.kind == "sqlite":
            with sqlite3.connect(self.tmp_path / "out.db") as conn:
                return [orjson.loads(r) for (r,) in conn.execute("SELECT record FROM order_item")]
        if self.kind == "duckdb":
            with duckdb.connect(str(self.tmp_path / "out.duckdb")) as conn:
                return [orjson.loads(r) for (r,) in conn.execute("SELECT record FROM order_item").fetchall()]
        if self.kind == "dir":
            out = []
            for path in sorted((self.tmp_path / "out").glob("order_item-*.jsonl")):
                out.extend(orjson.loads(line) for line in path.read_bytes().splitlines())
            return out
        conn = await asyncpg.connect(self.dsn)
        try:
            rows = await conn.fetch(f"SELECT record::text FROM {self.schema}.order_item")
        finally:
            await conn.close()
        return [orjson.loads(r[0]) for r in rows]

    async def bookmarks(self) -> dict[str, Any]:
        sink = self.sink()
        await sink.open()
        try:
            return await sink.load_bookmarks()
        finally:
            await sink.close(None)


@pytest.fixture(params=["sqlite", "dir", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    dsn = request.getfixturevalue("postgres_dsn") if request.param == "postgres" else None
    return Target(request.param, tmp_path, dsn)


def _updated_filters(api: Any) -> list[Any]:
    return [body.get("Filters", {}).get("UpdatedUtc") for action, body in api.calls if action == "add"]


async def test_full_run_then_changes_then_incremental_run(target: Target) -> None:
    async with mews_simulator(parts=3) as (sim, api):
        records = api.track_changes("OrderItem", records=240, change_fraction=0.05, new_per_hour=4)
        options = Incremental(now=api.clock.now)
        changed_while_streaming: list[str] = []

        def change_one(checkpoint: streamer.Checkpoint) -> None:
            if not changed_while_streaming:  # after the first batch: the export's snapshot is taken
                changed_while_streaming.append(sorted(records.current)[0])
                records.update(changed_while_streaming)

        # changed 7 minutes ago: delivered now, and again inside the next run's 5-minute overlap
        in_overlap = sorted(records.current)[-5:]
        records.update(in_overlap, at=api.clock.now() - timedelta(minutes=7))
        first = await streamer.run(mews_source(sim, ["OrderItem"], incremental=options), target.sink(),
                                   on_checkpoint=change_one, batch_size=50)
        assert first.records == 240
        assert _updated_filters(api) == [None]  # no bookmark yet: a full export
        first_end = api.clock.now() - timedelta(minutes=5)
        (key, bookmark), = (await target.bookmarks()).items()
        assert key.endswith("/OrderItem") and bookmark["replication_key"] == "UpdatedUtc"
        first_value = bookmark["replication_key_value"]
        assert abs((streamer.incremental.bookmarks.parse_iso(first_value, key) - first_end).total_seconds()) < 5

        touched = records.advance(hours=3)
        api.clock.advance(timedelta(minutes=10))  # the last changes are 5 minutes old: visible to an export
        source = mews_source(sim, ["OrderItem"], incremental=options)
        second = await streamer.run(source, target.sink(), batch_size=50)
        second_export = list(sim.exports.values())[-1]
        assert set(in_overlap) <= {i for f in second_export.files for i in f.ids()}  # sent again, unchanged

        # The second export asked for changes since the bookmark minus 5 minutes only ...
        window = _updated_filters(api)[-1]
        start = streamer.incremental.bookmarks.parse_iso(window["StartUtc"], "start")
        assert start == streamer.incremental.bookmarks.parse_iso(first_value, key) - timedelta(minutes=5)
        expected_changes = set(touched) | set(changed_while_streaming)
        assert second.records >= len(expected_changes - {None})
        assert second.records < 240  # ... not everything again
        # ... and the bookmark moved to that window's end.
        (_, advanced), = (await target.bookmarks()).items()
        assert advanced["replication_key_value"] == window["EndUtc"] > first_value

        held = await target.lines()
        latest: dict[str, dict[str, Any]] = {}
        for record in held:
            latest[record["Id"]] = record  # dir: the last line of an Id is its newest version
        assert latest == records.current  # nothing missed, every Id with its latest version
        assert records.versions[changed_while_streaming[0]] == 2
        if target.kind == "dir":
            # the overlap's versions delivered by run 1 were dropped, not appended twice
            assert source.bookmarks.repeats.dropped == len(in_overlap)
            versions = [(record["Id"], record["UpdatedUtc"]) for record in held]
            assert len(versions) == len(set(versions))
        else:
            assert len(held) == len(records.current)  # each Id once


async def test_a_200_day_gap_becomes_two_exports_committed_in_order(tmp_path: Path) -> None:
    async with mews_simulator(parts=2) as (sim, api):
        api.clock.advance(timedelta(days=-200))  # the first run happened 200 days ago
        records = api.track_changes("OrderItem", records=120, history=timedelta(days=60))
        options = Incremental(now=api.clock.now)
        sink = lambda: SqliteSink(tmp_path / "out.db", layout="json")  # noqa: E731
        await streamer.run(mews_source(sim, ["OrderItem"], incremental=options), sink())
        bookmark = streamer.incremental.bookmarks.parse_iso(
            next(iter((await Target("sqlite", tmp_path, None).bookmarks()).values()))["replication_key_value"], "b")

        api.clock.advance(timedelta(days=200))
        ids = sorted(records.current)
        for n, record_id in enumerate(ids[:40]):  # changes spread over the 200 days
            records.update([record_id], at=bookmark + timedelta(days=5 * n, hours=1))
        stats = await streamer.run(mews_source(sim, ["OrderItem"], incremental=options), sink())

        windows = _updated_filters(api)[1:]
        assert len(windows) == 2
        (s1, e1), (s2, e2) = [
            tuple(streamer.incremental.bookmarks.parse_iso(w[k], k) for k in ("StartUtc", "EndUtc")) for w in windows
        ]
        assert s1 == bookmark - timedelta(minutes=5) and e1 - s1 == timedelta(days=180)
        assert s2 == e1 - timedelta(minutes=5) and e2 - s2 <= timedelta(days=180)
        assert stats.records >= 40
        (_, advanced), = (await Target("sqlite", tmp_path, None).bookmarks()).items()
        assert advanced["replication_key_value"] == windows[1]["EndUtc"]
        assert {r["Id"]: r for r in await Target("sqlite", tmp_path, None).lines()} == records.current


@pytest.mark.parametrize("kind", ["sqlite", "duckdb", "postgres"])
async def test_an_upsert_never_replaces_a_newer_version(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    target = Target(kind, tmp_path, request.getfixturevalue("postgres_dsn") if kind == "postgres" else None)
    info = streamer.PartInfo("mews", 0, "OrderItem", "e1")

    def batch(version: str, line: int) -> streamer.Batch:
        raw = orjson.dumps({"Id": "a", "UpdatedUtc": version, "Note": version})
        record = streamer.Record(None, info, line, 0, raw)
        return streamer.Batch([record], info, streamer.Checkpoint(info.key, line, line))

    sink = target.sink()
    await sink.open()
    try:
        await sink.write(batch("2026-01-02T00:00:00.5Z", 1))
        await sink.write(batch("2026-01-01T00:00:00Z", 2))  # an older export streamed late
        await sink.write(batch("2026-01-02T00:00:00Z", 3))  # older, though longer as text
        await sink.write(batch("2026-01-02T01:00:00+02:00", 4))  # 23:00Z the day before: older
        held = await target.lines()
        await sink.write(batch("2026-01-03T00:00:00Z", 5))
    finally:
        await sink.close(None)
    assert [r["Note"] for r in held] == ["2026-01-02T00:00:00.5Z"]
    assert [r["Note"] for r in await target.lines()] == ["2026-01-03T00:00:00Z"]
