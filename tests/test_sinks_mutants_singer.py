"""Singer sink, message by message: one SCHEMA per stream, RECORDs stamped in UTC, STATE with the
bookmarks' part keys, and a close that writes the final STATE once (and nothing before open)."""

from __future__ import annotations

import io
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from streamer.sinks.singer import SingerSink, stream_schema
from tests.support.sinks import make_batch


def messages(buffer: io.BytesIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in buffer.getvalue().splitlines()]


def test_stream_schema_is_the_registered_entitys() -> None:
    schema = stream_schema("mews", "OrderItem")
    assert schema["properties"]["CreatedUtc"] == {"type": ["string", "null"], "format": "date-time"}
    assert "UnitAmount" in schema["properties"]
    assert stream_schema("nosuch", "Thing") == {"type": "object", "properties": {}, "additionalProperties": True}


async def test_one_schema_per_stream_across_batches() -> None:
    out = io.BytesIO()
    sink = SingerSink(out)
    await sink.open()
    await sink.write(make_batch([{"Id": "a"}]))
    await sink.write(make_batch([{"Id": "b"}], first_line=2))
    await sink.close(None)
    got = messages(out)
    assert [(m["type"], m.get("stream")) for m in got] == [
        ("SCHEMA", "OrderItem"), ("RECORD", "OrderItem"), ("RECORD", "OrderItem"), ("STATE", None)
    ]
    assert [m["record"] for m in got if m["type"] == "RECORD"] == [{"Id": "a"}, {"Id": "b"}]


async def test_time_extracted_is_utc_whatever_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # UTC+9, no daylight saving
    time.tzset()
    try:
        out = io.BytesIO()
        sink = SingerSink(out)
        await sink.open()
        await sink.write(make_batch([{"Id": "a"}]))
        now = datetime.now(timezone.utc)
    finally:
        monkeypatch.undo()
        time.tzset()
    (record,) = [m for m in messages(out) if m["type"] == "RECORD"]
    stamped = datetime.strptime(record["time_extracted"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert abs(now - stamped) < timedelta(minutes=5)


async def test_state_carries_each_bookmark_with_its_part_key() -> None:
    out = io.BytesIO()
    sink = SingerSink(out)
    await sink.open()
    batch = make_batch([{"Id": "a"}], done=True)
    batch.bookmarks = {"test/OrderItem": {"stream": "OrderItem", "replication_key": "UpdatedUtc",
                                          "replication_key_value": "T1"}}
    await sink.write(batch)
    state = messages(out)[-1]
    assert state == {
        "type": "STATE",
        "value": {
            "parts": {batch.part.key: batch.checkpoint.to_json()},
            "bookmarks": {"OrderItem": {"stream": "OrderItem", "replication_key": "UpdatedUtc",
                                        "replication_key_value": "T1", "key": "test/OrderItem"}},
        },
    }


async def test_close_writes_the_final_state_once_and_nothing_if_never_opened() -> None:
    out = io.BytesIO()
    await SingerSink(out).close(None)  # the run failed before the sink was opened
    assert out.getvalue() == b""
    sink = SingerSink(out)
    await sink.open()
    await sink.write(make_batch([{"Id": "a"}]))
    await sink.close(None)
    await sink.close(None)
    assert [m["type"] for m in messages(out)] == ["SCHEMA", "RECORD", "STATE"]
