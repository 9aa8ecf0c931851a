"""Bookmark bookkeeping without a network: windows, their order, Singer STATE in and out, the 400s."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import aiohttp
import orjson
import pytest

import streamer
from streamer.errors import ConfigError
from streamer.incremental.bookmarks import BookmarkTracker, parse_iso
from streamer.incremental.windows import Incremental, change_windows
from streamer.records import Batch, Checkpoint, PartInfo
from streamer.simulator.mews import DEMO_ACCESS_TOKEN, DEMO_CLIENT_TOKEN
from streamer.sinks.jsonl import JsonlSink
from streamer.sinks.singer import SingerSink
from tests.support.mews import mews_simulator, mews_source

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _parts(export_id: str, count: int) -> list[PartInfo]:
    return [PartInfo("mews", i, "OrderItem", export_id) for i in range(count)]


def _done(info: PartInfo) -> Batch:
    return Batch([], info, Checkpoint(info.key, 10, 1, done=True))


def test_windows_split_a_long_gap_with_the_overlap_between_them() -> None:
    end = T0 + timedelta(days=200)
    windows = change_windows(T0, end, max_span=timedelta(days=180), overlap=timedelta(minutes=5))
    assert windows == [(T0, T0 + timedelta(days=180)), (T0 + timedelta(days=180) - timedelta(minutes=5), end)]
    assert change_windows(None, end, max_span=timedelta(days=180), overlap=timedelta(0)) == [(None, end)]
    assert change_windows(end, end, max_span=None, overlap=timedelta(0)) == []


def test_bookmarks_commit_in_window_order_on_the_batch_that_completes_them() -> None:
    tracker = BookmarkTracker("UpdatedUtc")
    first, second = _parts("e1", 2), _parts("e2", 1)
    tracker.expect("k", "OrderItem", T0, first, export_id="e1")
    tracker.expect("k", "OrderItem", T0 + timedelta(days=1), second, export_id="e2")
    assert tracker.stamp(_done(second[0])).bookmarks is None  # window 2 is done, window 1 is not
    assert tracker.stamp(Batch([], first[0], Checkpoint(first[0].key, 5, 1))).bookmarks is None
    assert tracker.stamp(_done(first[0])).bookmarks is None
    last = tracker.stamp(_done(first[1]))
    assert last.bookmarks == {"k": {"stream": "OrderItem", "replication_key": "UpdatedUtc",
                                    "replication_key_value": "2026-01-02T00:00:00Z"}}
    tracker.committed(last)
    assert tracker.value("k", "OrderItem") == T0 + timedelta(days=1)
    assert tracker.leftovers() == []


def test_a_window_without_files_is_committed_by_an_empty_batch() -> None:
    tracker = BookmarkTracker("UpdatedUtc")
    tracker.expect("k", "OrderItem", T0, [], export_id="e0")
    (batch,) = tracker.leftovers()
    assert batch.records == [] and batch.checkpoint.done
    assert batch.bookmarks["k"]["replication_key_value"] == "2026-01-01T00:00:00Z"


async def test_a_sink_without_bookmark_storage_and_no_state_is_refused() -> None:
    async with mews_simulator() as (sim, api):
        api.track_changes("OrderItem", records=10)
        with pytest.raises(ConfigError, match="needs somewhere to keep its bookmark"):
            await streamer.run(mews_source(sim, ["OrderItem"], incremental=True), JsonlSink(io.BytesIO()))


async def test_singer_state_carries_bookmarks_and_continues_when_fed_back(tmp_path) -> None:
    async with mews_simulator() as (sim, api):
        records = api.track_changes("OrderItem", records=60)
        options = Incremental(now=api.clock.now)
        out = io.BytesIO()
        await streamer.run(mews_source(sim, ["OrderItem"], incremental=options), SingerSink(out))
        states = [m for m in map(orjson.loads, out.getvalue().splitlines()) if m["type"] == "STATE"]
        bookmark = states[-1]["value"]["bookmarks"]["OrderItem"]
        assert bookmark["replication_key"] == "UpdatedUtc"
        assert sum(1 for m in map(orjson.loads, out.getvalue().splitlines()) if m["type"] == "RECORD") == 60

        (tmp_path / "state.json").write_bytes(orjson.dumps(states[-1]))  # what a Singer runner keeps
        touched = records.advance(hours=2)
        api.clock.advance(timedelta(minutes=10))  # the last changes are 5 minutes old: visible to an export
        out = io.BytesIO()
        await streamer.run(mews_source(sim, ["OrderItem"], incremental=options), SingerSink(out),
                           state=tmp_path / "state.json")
        start = next(b for a, b in reversed(api.calls) if a == "add")["Filters"]["UpdatedUtc"]["StartUtc"]
        assert parse_iso(start, "s") == parse_iso(bookmark["replication_key_value"], "b") - timedelta(minutes=5)
        messages = list(map(orjson.loads, out.getvalue().splitlines()))
        delivered = {m["record"]["Id"] for m in messages if m["type"] == "RECORD"}
        assert set(touched) <= delivered and len(delivered) < 60
        advanced = [m for m in messages if m["type"] == "STATE"][-1]["value"]["bookmarks"]["OrderItem"]
        assert advanced["replication_key_value"] > bookmark["replication_key_value"]


async def test_the_simulator_answers_the_vendors_400s_for_updatedutc() -> None:
    async with mews_simulator() as (sim, api):
        now = api.clock.now()
        auth = {"ClientToken": DEMO_CLIENT_TOKEN, "AccessToken": DEMO_ACCESS_TOKEN, "Client": "test"}

        async def add(start: datetime, end: datetime) -> tuple[int, str]:
            body = {**auth, "EntityType": "OrderItem",
                    "Filters": {"UpdatedUtc": {"StartUtc": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                               "EndUtc": end.strftime("%Y-%m-%dT%H:%M:%SZ")}}}
            async with aiohttp.ClientSession() as session:
                async with session.post(f"{sim.base_url}/api/connector/v1/exports/add", json=body) as resp:
                    return resp.status, (await resp.json())["Message"]

        assert await add(now - timedelta(hours=1), now - timedelta(minutes=2)) == (
            400, "Filters.UpdatedUtc.EndUtc must be at least 5 minutes in the past.")
        assert await add(now - timedelta(days=190), now - timedelta(days=1)) == (
            400, "Filters.UpdatedUtc must not span more than 180 days.")
        api.clock.advance(timedelta(days=-1))  # the API's clock, not the machine's, decides
        assert (await add(now - timedelta(days=2), now - timedelta(hours=12)))[0] == 400
