"""Singer SCHEMA messages: inferred and widened as records arrive; CSV values typed per schema."""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest

from streamer.errors import DecodeError
from streamer.records import Batch, Checkpoint, PartInfo, Record
from streamer.schemas import InferredSchema
from streamer.sinks.singer import SingerSink


async def singer_of(batches: list[tuple[PartInfo, list[Any]]]) -> list[dict]:
    out = io.BytesIO()
    sink = SingerSink(out)
    await sink.open()
    line = 0
    for part, rows in batches:
        records = []
        for row in rows:
            line += 1
            raw = orjson.dumps(row) if part.source != "logisense" else None
            records.append(Record(None if raw else row, part, line, line * 100, raw=raw))
        await sink.write(Batch(records, part, Checkpoint(part.key, line * 100, line)))
    await sink.close(None)
    return [orjson.loads(m) for m in out.getvalue().splitlines()]


async def test_a_new_field_mid_export_re_emits_a_widened_schema_before_its_records() -> None:
    part = PartInfo("urls", 0, "Things", group="g")
    messages = await singer_of([
        (part, [{"Id": "a", "Count": 1, "At": "2025-01-01T00:00:00Z"}, {"Id": "b", "Count": None}]),
        (part, [{"Id": "c", "Count": 2}]),
        (part, [{"Id": "d", "Count": 2.5, "Color": "red", "At": "soon"}]),
    ])
    kinds = [m["type"] for m in messages]
    assert kinds == ["SCHEMA", "RECORD", "RECORD", "RECORD", "SCHEMA", "RECORD", "STATE"]
    first, second = (m for m in messages if m["type"] == "SCHEMA")
    assert first["key_properties"] == ["Id"]
    assert first["schema"]["properties"] == {
        "Id": {"type": ["string", "null"]},
        "Count": {"type": ["integer", "null"]},
        "At": {"type": ["string", "null"], "format": "date-time"},
    }
    assert second["schema"]["properties"]["Count"] == {"type": ["number", "null"]}
    assert second["schema"]["properties"]["Color"] == {"type": ["string", "null"]}
    assert second["schema"]["properties"]["At"] == {"type": ["string", "null"]}  # "soon" is no timestamp


async def test_a_registered_schema_still_gains_the_fields_it_does_not_declare() -> None:
    part = PartInfo("mews", 0, "OrderItem", "e-1")
    messages = await singer_of([(part, [{"Id": "o1", "UnitCount": 1, "BrandNewField": [1, 2]}])])
    schema = messages[0]["schema"]
    assert schema["properties"]["CreatedUtc"]["format"] == "date-time"
    assert schema["properties"]["BrandNewField"] == {"type": ["array", "null"]}
    assert messages[0]["bookmark_properties"] == ["UpdatedUtc"]
    assert messages[1]["record"]["BrandNewField"] == [1, 2]


async def test_csv_records_are_typed_for_the_target_and_unknown_columns_kept() -> None:
    part = PartInfo("logisense", 0, "Usage", "101")
    row = {"rowId": "101-0", "accountId": "42", "amount": "10.10", "created": "2021-04-01T00:00:00Z",
           "currency": "", "extra": "x"}
    messages = await singer_of([(part, [row, {**row, "rowId": "101-1", "amount": ""}])])
    records = [m["record"] for m in messages if m["type"] == "RECORD"]
    assert records[0] == {"rowId": "101-0", "accountId": 42, "amount": 10.10, "created": "2021-04-01T00:00:00Z",
                          "currency": "", "extra": "x"}
    assert records[1]["amount"] is None
    schema = messages[0]["schema"]
    assert schema["properties"]["accountId"] == {"type": ["integer", "null"]}
    assert schema["properties"]["extra"] == {"type": ["string", "null"]} and messages[0]["key_properties"] == ["rowId"]


async def test_a_csv_value_that_does_not_fit_stops_with_its_place() -> None:
    part = PartInfo("logisense", 0, "Usage", "101")
    with pytest.raises(DecodeError, match=r"line 1, byte offset 100: .*column 'accountId' value 'forty'"):
        await singer_of([(part, [{"rowId": "1", "accountId": "forty"}])])


def test_inferred_schema_only_grows() -> None:
    inferred = InferredSchema()
    assert inferred.observe({"a": 1}) and not inferred.observe({"a": 2}) and not inferred.observe({"a": None})
    assert inferred.observe({"a": "x"})
    assert inferred.schema["properties"]["a"] == {"type": ["integer", "string", "null"]}
    assert not inferred.observe("not an object")
