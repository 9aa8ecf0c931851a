"""Typed tables as a function of a JSON Schema: columns, kinds, flattening, widening, inference."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest

from streamer.errors import ConfigError
from streamer.providers.mews.entities import OrderItem, Reservation
from streamer.records import Batch, Checkpoint, PartInfo, Record
from streamer.tables import ContractError, TableSchema, widen
from streamer.tables.state import registry_schema
from streamer.tables.batch import build_batch, kind_of_value
from streamer.schemas import struct_json_schema
from tests.support.sinks import make_batch

LOGISENSE_INVOICE = {  # a LogiSense-like CSV entity: every value a string, money exact
    "type": "object",
    "properties": {
        "InvoiceId": {"type": "integer"},
        "AccountNumber": {"type": "string"},
        "InvoiceDate": {"type": "string", "format": "date"},
        "Total": {"type": "string", "format": "decimal"},
        "Paid": {"type": "boolean"},
    },
}
REBILLY_TRANSACTION = {  # a Rebilly-like resource: OpenAPI style, nested, nullable types, uuid ids
    "type": "object",
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "amount": {"type": "number"},
        "currency": {"type": "string"},
        "createdTime": {"type": "string", "format": "date-time"},
        "billingAddress": {"$ref": "#/definitions/Address"},
        "customFields": {"type": "object", "additionalProperties": True},
        "tags": {"type": "array", "items": {"type": "string"}},
        "retryNumber": {"type": ["integer", "null"]},
    },
    "definitions": {
        "Address": {"type": "object", "properties": {"city": {"type": "string"}, "geo": {"type": "object", "properties": {"lat": {"type": "number"}}}}},
    },
}


def kinds(table: TableSchema) -> dict[str, str]:
    return {c.name: c.kind for c in table.columns.values()}


def test_mews_struct_schema_gives_typed_flattened_columns() -> None:
    table = TableSchema.from_json_schema(struct_json_schema(OrderItem), key="Id", max_nesting=1)
    got = kinds(table)
    assert "id" not in got  # the key is the table's id column
    assert got["unit_count"] == "bigint" and got["created_utc"] == "timestamp" and got["updated_utc"] == "timestamp"
    assert got["amount__net_value"] == "double" and got["amount__currency"] == "text"
    assert got["amount__tax_values"] == "json" and got["amount__breakdown"] == "json"  # a list; nesting level 2
    assert got["options"] == "json"
    flat = kinds(TableSchema.from_json_schema(struct_json_schema(OrderItem), max_nesting=0))
    assert flat["amount"] == "json" and "amount__net_value" not in flat
    deep = kinds(TableSchema.from_json_schema(struct_json_schema(Reservation), max_nesting=2))
    assert deep["created_utc"] == "timestamp"


def test_logisense_and_rebilly_like_schemas() -> None:
    ls = kinds(TableSchema.from_json_schema(LOGISENSE_INVOICE, key="InvoiceId"))
    assert ls == {"account_number": "text", "invoice_date": "date", "total": "decimal", "paid": "boolean"}
    rb = kinds(TableSchema.from_json_schema(REBILLY_TRANSACTION, key="id", max_nesting=1))
    assert rb == {
        "amount": "double", "currency": "text", "created_time": "timestamp", "billing_address__city": "text",
        "billing_address__geo": "json", "custom_fields": "json", "tags": "json", "retry_number": "bigint",
    }
    with pytest.raises(ConfigError, match="not a local reference"):
        TableSchema.from_json_schema({"properties": {"x": {"$ref": "http://elsewhere/x.json"}}})


def test_widening_is_safe_or_text() -> None:
    assert widen("bigint", "double") == "double" and widen("bigint", "decimal") == "decimal"
    assert widen("date", "timestamp") == "timestamp" and widen("boolean", "bigint") == "text"
    assert widen("timestamp", "text") == "text" and widen("json", "bigint") == "json"
    assert [kind_of_value(v) for v in (True, 3, 1 << 70, 2.5, "2024-01-01", "2024-01-01T10:00:00Z", "x", [1])] == [
        "boolean", "bigint", "decimal", "double", "date", "timestamp", "text", "json"]
    assert kind_of_value("0b6f5c6e-8f4e-4f7a-9d7e-2b1c3a4d5e6f") == "uuid"


NOW = datetime(2026, 12, 2, tzinfo=UTC)


def test_batch_builds_typed_arrow_columns_and_dedupes_by_key() -> None:
    table = TableSchema.from_json_schema(LOGISENSE_INVOICE, key="InvoiceId")
    batch = make_batch([
        {"InvoiceId": 7, "Total": "10.10", "InvoiceDate": "2026-01-31", "Paid": False},
        {"InvoiceId": 8, "Total": "0.000000001"},
        {"InvoiceId": 7, "Total": "12.50", "Paid": True},  # a later version of 7 wins
        {"Total": "1"},  # no key: part#line
    ])
    rows = build_batch(batch, table, "freeze", NOW, new_table=False).table.to_pylist()
    assert [r["id"] for r in rows] == ["8", "7", "test/exp/0#4"]
    assert rows[1]["total"] == Decimal("12.5") and rows[1]["paid"] is True and rows[1]["_streamer_line"] == 3
    assert rows[0]["total"] == Decimal("0.000000001") and rows[0]["_streamer_loaded_at"] == NOW


def test_contracts_evolve_freeze_discard() -> None:
    records = [{"Id": "a", "UnitCount": 1, "Extra": "x"}, {"Id": "b", "UnitCount": 2.5}]
    evolving = TableSchema.from_json_schema(struct_json_schema(OrderItem))
    result = build_batch(make_batch(records), evolving, "evolve", NOW, new_table=False)
    assert [c.name for c in result.added] == ["extra"] and [c.name for c in result.widened] == ["unit_count"]
    assert kinds(evolving)["unit_count"] == "double" and result.table.column("unit_count").to_pylist() == [1.0, 2.5]

    frozen = TableSchema.from_json_schema(struct_json_schema(OrderItem))
    with pytest.raises(ContractError, match=r"OrderItem part 0 of export exp, line 1, byte offset 0: field 'Extra' is not a column"):
        build_batch(make_batch(records), frozen, "freeze", NOW, new_table=False)
    with pytest.raises(ContractError, match=r"line 2, .*field 'UnitCount' holds double, not bigint"):
        build_batch(make_batch(records[1:], first_line=2), frozen, "freeze", NOW, new_table=False)

    discarding = TableSchema.from_json_schema(struct_json_schema(OrderItem))
    rows = build_batch(make_batch(records), discarding, "discard", NOW, new_table=False).table.to_pylist()
    assert rows[0]["_extra"] == '{"Extra":"x"}' and rows[0]["unit_count"] == 1
    assert rows[1]["_extra"] == '{"UnitCount":2.5}' and rows[1]["unit_count"] is None
    assert kinds(discarding)["unit_count"] == "bigint" and "extra" not in kinds(discarding)


def test_a_bad_timestamp_in_a_timestamp_column_is_located() -> None:
    table = TableSchema.from_json_schema(struct_json_schema(OrderItem))
    batch = make_batch([{"Id": "a", "CreatedUtc": "2024-01-01T00:00:00.1234567Z"}, {"Id": "b", "CreatedUtc": "yesterday"}])
    with pytest.raises(ContractError, match=r"line 2.*'CreatedUtc' holds text, not timestamp"):
        build_batch(batch, table, "freeze", NOW, new_table=False)
    rows = build_batch(batch, table, "evolve", NOW, new_table=False).table.to_pylist()
    assert kinds(table)["created_utc"] == "text" and rows[1]["created_utc"] == "yesterday"


def test_a_non_object_line_is_refused_with_its_place() -> None:
    with pytest.raises(ContractError, match="line 1.*not a JSON object"):
        build_batch(make_batch([[1, 2]]), TableSchema(), "evolve", NOW, new_table=True)  # type: ignore[list-item]


def logisense_batch(rows: list[dict[str, str]]) -> Batch:
    """CSV rows as the LogiSense provider hands them over: every value text, the part a LogiSense one."""
    info = PartInfo(source="logisense", index=0, entity_type="Invoices", export_id="101")
    records = [Record(row, info, line, line * 100) for line, row in enumerate(rows, 1)]
    return Batch(records, info, Checkpoint(info.key, offset=len(rows) * 100, line=len(rows)))


def test_csv_text_is_converted_per_the_registry_schema_and_keyed_by_its_key() -> None:
    batch = logisense_batch([
        {"rowId": "101-0", "accountId": "4761", "amount": "90467.29", "created": "2021-04-01T00:00:00Z", "currency": ""},
        {"rowId": "101-1", "accountId": " 12 ", "amount": "", "created": ""},
    ])
    declared = registry_schema(batch.part)
    table = TableSchema.from_json_schema(declared)
    assert table.key_fields == ("rowId",)  # the registry's key_properties, not Id/id
    assert kinds(table)["account_id"] == "bigint" and kinds(table)["amount"] == "decimal"
    built = build_batch(batch, table, "freeze", NOW, new_table=False)
    rows = built.table.to_pylist()
    assert [r["id"] for r in rows] == ["101-0", "101-1"]  # a re-export upserts these rows, never duplicates
    assert rows[0]["account_id"] == 4761 and rows[0]["amount"] == Decimal("90467.29")
    assert rows[0]["created"] == datetime(2021, 4, 1, tzinfo=UTC)
    assert rows[0]["currency"] == ""  # a text column keeps its empty text
    assert rows[1]["account_id"] == 12 and rows[1]["amount"] is None and rows[1]["created"] is None  # empty → null
    assert not built.changed and kinds(table)["account_id"] == "bigint"


def test_csv_text_that_does_not_fit_goes_by_the_contract() -> None:
    bad = logisense_batch([{"rowId": "r1", "accountId": "7"}, {"rowId": "r2", "accountId": " seven "}])
    table = TableSchema.from_json_schema(registry_schema(bad.part))
    with pytest.raises(ContractError, match=r"line 2, byte offset 200: field 'accountId' holds text, not bigint"):
        build_batch(bad, table, "freeze", NOW, new_table=False)
    discarded = build_batch(bad, table, "discard", NOW, new_table=False).table.to_pylist()
    assert [r["account_id"] for r in discarded] == [7, None] and discarded[1]["_extra"] == '{"accountId":" seven "}'
    evolved = build_batch(bad, table, "evolve", NOW, new_table=False)
    assert [c.name for c in evolved.widened] == ["account_id"]
    assert [r["account_id"] for r in evolved.table.to_pylist()] == ["7", " seven "]  # widened to text, kept as it came


def test_csv_booleans_and_json_text_objects_and_lists() -> None:
    table = TableSchema.from_json_schema(REBILLY_TRANSACTION, key="id", max_nesting=1)
    batch = make_batch([
        {"id": "t1", "amount": "12.5", "billingAddress": '{"city": "Oslo", "geo": {"lat": 59.9}}',
         "tags": '["a", "b"]', "retryNumber": "0"},
        {"id": "t2", "amount": "3", "billingAddress": "", "tags": "", "retryNumber": ""},
    ])
    rows = build_batch(batch, table, "freeze", NOW, new_table=False).table.to_pylist()
    assert rows[0]["amount"] == 12.5 and rows[0]["retry_number"] == 0
    assert rows[0]["billing_address__city"] == "Oslo" and orjson.loads(rows[0]["billing_address__geo"]) == {"lat": 59.9}
    assert orjson.loads(rows[0]["tags"]) == ["a", "b"]  # the list as JSON, not a quoted string
    assert rows[1]["tags"] is None and rows[1]["retry_number"] is None and rows[1]["billing_address__city"] is None
    paid = TableSchema.from_json_schema(LOGISENSE_INVOICE, key="InvoiceId")
    flags = build_batch(make_batch([{"InvoiceId": "1", "Paid": "true"}, {"InvoiceId": "2", "Paid": "FALSE"},
                                    {"InvoiceId": "3", "Paid": "0"}]), paid, "freeze", NOW, new_table=False)
    assert [r["paid"] for r in flags.table.to_pylist()] == [True, False, False]


def test_decimal_struct_fields_are_exact_decimal_columns() -> None:
    from streamer.schemas.logisense import Invoices

    assert struct_json_schema(Invoices)["properties"]["amount"] == {"type": ["number", "null"], "format": "decimal"}
