"""Typed tables as a function of a JSON Schema: columns, kinds, flattening, widening, inference."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from streamer.errors import ConfigError
from streamer.providers.mews.entities import OrderItem, Reservation
from streamer.tables import ContractError, TableSchema, widen
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
