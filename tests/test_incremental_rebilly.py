"""Incremental Rebilly exports: ``dateRange`` on ``updatedTime`` from the bookmark, into SQLite."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import orjson
import pytest

import streamer
from streamer.incremental.bookmarks import parse_iso
from streamer.incremental.windows import Incremental
from streamer.providers.rebilly import ExportRequest
from streamer.sinks.sqlite import SqliteSink
from tests.support.rebilly import make_source, rebilly_sim

pytestmark = pytest.mark.timeout(30)


async def test_rebilly_incremental_asks_for_updated_time_since_the_bookmark(tmp_path) -> None:
    async with rebilly_sim() as (sim, state):
        records = state.track_changes("transactions", records=150)
        options = Incremental(now=state.clock.now)
        request = ExportRequest(resource="transactions", format="json")
        db = tmp_path / "out.db"
        first = await streamer.run(make_source(sim, state, request=request, incremental=options), SqliteSink(db, layout="json"))
        assert first.records == 150
        bodies = [r["body"] for r in state.requests if r["method"] == "POST"]
        assert "dateRange" not in bodies[0]  # no bookmark yet: everything
        with sqlite3.connect(db) as conn:
            (bookmark,) = conn.execute("SELECT replication_key_value FROM _streamer_bookmarks").fetchone()

        touched = records.advance(hours=2)
        state.clock.advance(timedelta(minutes=10))
        second = await streamer.run(make_source(sim, state, request=request, incremental=options), SqliteSink(db, layout="json"))

        window = [r["body"] for r in state.requests if r["method"] == "POST"][-1]["dateRange"]
        assert window["field"] == "updatedTime"
        assert parse_iso(window["start"], "start") == parse_iso(bookmark, "bookmark") - timedelta(minutes=5)
        assert len(set(touched)) <= second.records < 150
        with sqlite3.connect(db) as conn:
            held = {r["id"]: r for r in (orjson.loads(x) for (x,) in conn.execute("SELECT record FROM transactions"))}
            (advanced,) = conn.execute("SELECT replication_key_value FROM _streamer_bookmarks").fetchone()
        assert held == records.current
        assert advanced == window["end"] > bookmark
