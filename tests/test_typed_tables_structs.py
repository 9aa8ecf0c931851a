"""The Struct path of typed tables (streamer/tables/structs.py): the same table as the general path, or none.

Every test builds batches the way the JSON Lines decoder hands them over
(``raw`` line kept, nothing decoded) and compares the Struct path's Arrow
table with the general path's on the same batch and schema, so a shortcut
that drops, reorders or retypes a value fails here.
"""

from __future__ import annotations

import copy
import random
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pytest

from streamer.records import Batch, Checkpoint, PartInfo, Record
from streamer.simulator.records import BUILDERS, ID_PLACEHOLDER, build_templates
from streamer.simulator.rebilly import BUILDERS as REBILLY_BUILDERS
from streamer.tables import ContractError, TableSchema
from streamer.tables.batch import BatchTable, build_batch
from streamer.tables.state import registry_schema
from streamer.tables.structs import RowDecoder

NOW = datetime(2026, 12, 3, tzinfo=UTC)
MEWS = PartInfo(source="mews", index=0, entity_type="OrderItem", export_id="e1")


def raw_batch(rows: list[dict[str, Any]] | list[bytes], info: PartInfo = MEWS) -> Batch:
    """JSON lines as the engine hands them over: the raw line only, decoded on demand."""
    lines = [r if isinstance(r, bytes) else orjson.dumps(r) for r in rows]
    records = [Record(None, info, n, (n - 1) * 100, line) for n, line in enumerate(lines, 1)]
    return Batch(records, info, Checkpoint(info.key, offset=len(lines) * 100, line=len(lines)))


def general(batch: Batch, schema: TableSchema, contract: str = "evolve", *, new_table: bool = False,
            monkeypatch: pytest.MonkeyPatch) -> BatchTable:
    with monkeypatch.context() as m:
        m.setattr(RowDecoder, "decode", lambda self, records: None)
        return build_batch(batch, schema, contract, NOW, new_table=new_table)  # type: ignore[arg-type]


def both(batch: Batch, schema: TableSchema, monkeypatch: pytest.MonkeyPatch, contract: str = "evolve") -> tuple[BatchTable, BatchTable]:
    """(Struct path, general path) on copies of one schema; asserts the Struct path was taken."""
    fast_schema, slow_schema = copy.deepcopy(schema), copy.deepcopy(schema)
    assert RowDecoder(fast_schema).decode(batch.records) is not None, "the Struct path refused the batch"
    fast = build_batch(batch, fast_schema, contract, NOW, new_table=False)  # type: ignore[arg-type]
    slow = general(batch, slow_schema, contract, monkeypatch=monkeypatch)
    assert fast_schema.to_json() == slow_schema.to_json()
    return fast, slow


def settled(batch: Batch, schema: TableSchema) -> TableSchema:
    """The schema after a first batch through the general path (columns evolved, null-only fields seen)."""
    build_batch(batch, schema, "evolve", NOW, new_table=False)
    return schema


def mews_rows(entity: str, n: int, seed: int = 7) -> list[bytes]:
    """The simulator's lines of ``entity`` (its templates, each with a unique Id spliced in)."""
    templates = build_templates(entity, seed, 0, [str(uuid.UUID(int=1)), str(uuid.UUID(int=2))])
    placeholder = ID_PLACEHOLDER.format(0).encode()
    return [templates[i % len(templates)].replace(placeholder, ID_PLACEHOLDER.format(seed << 20 | i).encode()) for i in range(n)]


@pytest.mark.parametrize("entity", sorted(BUILDERS))
def test_every_simulated_mews_entity_gives_the_general_paths_table(entity: str, monkeypatch: pytest.MonkeyPatch) -> None:
    info = PartInfo(source="mews", index=0, entity_type=entity, export_id="e1")
    schema = settled(raw_batch(mews_rows(entity, 200, seed=1), info), TableSchema.from_json_schema(registry_schema(info)))
    fast, slow = both(raw_batch(mews_rows(entity, 300, seed=2), info), schema, monkeypatch)
    assert fast.table.num_rows == 300
    assert fast.table.equals(slow.table), _first_difference(fast.table, slow.table)


@pytest.mark.parametrize("resource", sorted(REBILLY_BUILDERS))
def test_rebilly_json_records_give_the_general_paths_table(resource: str, monkeypatch: pytest.MonkeyPatch) -> None:
    info = PartInfo(source="rebilly", index=0, entity_type=resource, export_id="x1")
    rng = random.Random(3)
    rows = [{**REBILLY_BUILDERS[resource](rng, i), "id": f"{resource}-{i}"} for i in range(400)]
    schema = settled(raw_batch(rows[:100], info), TableSchema.from_json_schema(registry_schema(info)))
    fast, slow = both(raw_batch(rows[100:], info), schema, monkeypatch)
    assert fast.table.num_rows == 300 and fast.table.equals(slow.table), _first_difference(fast.table, slow.table)


def _first_difference(a: pa.Table, b: pa.Table) -> str:
    for name in a.column_names:
        if not a[name].equals(b[name]):
            left, right = a[name].to_pylist(), b[name].to_pylist()
            i = next(i for i, (x, y) in enumerate(zip(left, right, strict=True)) if x != y)
            return f"column {name} row {i}: {left[i]!r} != {right[i]!r}"
    return "schemas differ"


SCHEMA = {
    "type": "object",
    "properties": {
        "Id": {"type": "string"},
        "Count": {"type": "integer"},
        "Price": {"type": "number"},
        "Paid": {"type": "boolean"},
        "At": {"type": "string", "format": "date-time"},
        "Amount": {"type": "object", "properties": {
            "Currency": {"type": "string"}, "Net": {"type": "number"}, "Breakdown": {"type": "array"},
        }},
        "Tags": {"type": "array", "items": {"type": "string"}},
        "Extra": {"type": "object"},
    },
}


def small_schema() -> TableSchema:
    return TableSchema.from_json_schema(SCHEMA)


ROW = {"Id": "a", "Count": 1, "Price": 2, "Paid": True, "At": "2026-01-02T03:04:05.1234567Z",
       "Amount": {"Currency": "EUR", "Net": 1.5}, "Tags": ["x", "y"]}


def test_values_null_objects_and_missing_fields_land_as_on_the_general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [ROW, {"Id": "b", "Amount": None, "Tags": None}, {"Id": "c", "Count": None, "Amount": {}}]
    fast, slow = both(raw_batch(rows), small_schema(), monkeypatch)
    assert fast.table.equals(slow.table), _first_difference(fast.table, slow.table)
    got = fast.table.to_pylist()
    assert [r["id"] for r in got] == ["a", "b", "c"]
    assert got[0]["price"] == 2.0 and type(got[0]["price"]) is float  # an integer in a double column
    assert got[0]["amount__currency"] == "EUR" and got[1]["amount__currency"] is None
    assert got[0]["tags"] == '["x","y"]' and got[1]["tags"] is None
    assert got[0]["at"] == datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert [r["_streamer_line"] for r in got] == [1, 2, 3]


def test_a_json_column_below_the_flattened_levels_keeps_the_sources_text_exactly() -> None:
    line = b'{"Id":"a","Amount":{"Breakdown":[ 1, 12345678901234567890123 ]}}'
    table = build_batch(raw_batch([line]), small_schema(), "evolve", NOW, new_table=False).table
    assert table["amount__breakdown"].to_pylist() == ["[ 1, 12345678901234567890123 ]"]


def test_a_string_in_a_json_column_is_read_as_on_the_general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """At the top level the Struct hands over the string itself, and the general path's rule (JSON text) applies."""
    fast, slow = both(raw_batch([ROW, {"Id": "b", "Tags": '["x"]'}, {"Id": "c", "Tags": "plain"}]), small_schema(), monkeypatch)
    assert fast.table.equals(slow.table)
    assert fast.table["tags"].to_pylist() == ['["x","y"]', '["x"]', '"plain"']


def test_an_object_above_max_nesting_is_flattened_even_where_the_schema_says_json(monkeypatch: pytest.MonkeyPatch) -> None:
    schema = small_schema()  # "Extra" has no properties: a JSON column at depth 1 (max_nesting 1)
    assert RowDecoder(schema).decode(raw_batch([{"Id": "a", "Extra": {"k": 1}}]).records) is None
    result = build_batch(raw_batch([{"Id": "a", "Extra": {"k": 1}}]), schema, "evolve", NOW, new_table=False)
    assert [c.name for c in result.added] == ["extra__k"]  # the general path flattened it
    fast, slow = both(raw_batch([{"Id": "b", "Extra": {"k": 2}}, {"Id": "c", "Extra": None}]), schema, monkeypatch)
    assert fast.table.equals(slow.table)
    assert fast.table["extra__k"].to_pylist() == [2, None] and fast.table["extra"].to_pylist() == [None, None]


@pytest.mark.parametrize(
    "row",
    [
        {"Id": "a", "New": 1},  # a field with no column
        {"Id": "a", "Amount": {"Currency": "EUR", "Tax": 1}},  # a nested field with no column
        {"Id": "a", "Count": "42"},  # CSV-style text in a bigint column: converted by the general path
        {"Id": "a", "Count": 1.5},  # a double in a bigint column: widened by the general path
        {"Id": "a", "Paid": 1},
        {"Id": "a", "Amount": "EUR 1.50"},  # text where an object is flattened
        {"Id": "a", "Amount": {"Breakdown": "[1]"}},  # a string in a JSON column kept as raw text
        {"Id": "a", "Tags": {"k": 1}},  # an object where the general path flattens
        {"Id": {"nested": 1}},
        {"Id": "a", "Price": None, "Later": None},  # a null-only field never seen before
    ],
)
def test_what_does_not_fit_the_structs_goes_to_the_general_path(row: dict[str, Any]) -> None:
    assert RowDecoder(small_schema()).decode(raw_batch([ROW, row]).records) is None


def test_decoded_records_without_their_line_take_the_general_path() -> None:
    info = MEWS
    records = [Record(dict(ROW), info, 1, 0)]  # CSV and JSON-array records carry no raw line
    assert RowDecoder(small_schema()).decode(records) is None


def test_fields_seen_only_as_null_are_accepted_until_they_hold_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    schema = small_schema()
    settled(raw_batch([{**ROW, "ClaimedUtc": None, "Amount": {"Currency": "EUR", "Fee": None}}]), schema)
    assert schema.nulls == {("ClaimedUtc",), ("Amount", "Fee")}
    assert "claimed_utc" not in {c.name for c in schema.columns.values()}  # no column for nulls alone
    fast, slow = both(raw_batch([{**ROW, "Id": "b", "ClaimedUtc": None}]), schema, monkeypatch)
    assert fast.table.equals(slow.table)
    assert RowDecoder(schema).decode(raw_batch([{**ROW, "ClaimedUtc": "2026-01-01T00:00:00Z"}]).records) is None
    result = build_batch(raw_batch([{**ROW, "ClaimedUtc": "2026-01-01T00:00:00Z"}]), schema, "evolve", NOW, new_table=False)
    assert [c.name for c in result.added] == ["claimed_utc"]


def test_a_key_seen_twice_keeps_its_last_version_in_the_place_of_its_last_line(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [{"Id": "a", "Count": 1}, {"Id": "b", "Count": 2}, {"Id": "a", "Count": 3}, {"Id": "c", "Count": 4}]
    fast, slow = both(raw_batch(rows), small_schema(), monkeypatch)
    assert fast.table.equals(slow.table)
    assert fast.table["id"].to_pylist() == ["b", "a", "c"]
    assert fast.table["count"].to_pylist() == [2, 3, 4] and fast.table["_streamer_line"].to_pylist() == [2, 3, 4]


def test_keys_that_are_missing_or_not_text_are_named_as_on_the_general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    schema = TableSchema.from_json_schema(SCHEMA, key=("Id", "id"))
    rows = [{"Count": 1}, {"Id": 7}, {"id": "lower"}, {"Id": None, "id": 2.5}, {"Count": 5}]
    fast, slow = both(raw_batch(rows), schema, monkeypatch)
    assert fast.table.equals(slow.table)
    assert fast.table["id"].to_pylist() == [f"{MEWS.key}#1", "7", "lower", "2.5", f"{MEWS.key}#5"]


def test_misfits_the_structs_accept_still_follow_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    """A string that is not a timestamp passes the Struct (timestamps travel as text) and meets the contract."""
    bad = {"Id": "b", "At": "yesterday"}
    with pytest.raises(ContractError, match=r"line 2.*field 'At' holds text, not timestamp"):
        build_batch(raw_batch([ROW, bad]), small_schema(), "freeze", NOW, new_table=False)
    fast, slow = both(raw_batch([ROW, bad]), small_schema(), monkeypatch, contract="discard")
    assert fast.table.equals(slow.table)
    assert orjson.loads(fast.table["_extra"][1].as_py()) == {"At": "yesterday"}
    evolved = build_batch(raw_batch([ROW, bad]), schema := small_schema(), "evolve", NOW, new_table=False)
    assert [c.name for c in evolved.widened] == ["at"] and schema.columns[("At",)].kind == "text"


def test_freeze_still_names_an_unknown_field_and_its_line() -> None:
    with pytest.raises(ContractError, match=r"line 2, byte offset 100.*field 'New' is not a column"):
        build_batch(raw_batch([ROW, {"Id": "b", "New": 1}]), small_schema(), "freeze", NOW, new_table=False)
