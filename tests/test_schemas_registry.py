"""The schema registry: every vendor's entities, Rebilly generated from its spec, typed() everywhere."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from streamer.errors import DecodeError
from streamer.providers.mews.requests import ENTITY_TYPES
from streamer.records import PartInfo, Record
from streamer.schemas import lookup, names, resolve
from streamer.schemas import rebilly as rebilly_schemas
from streamer.simulator.logisense import csv_export
from streamer.simulator.rebilly import BUILDERS

ROOT = Path(__file__).resolve().parent.parent
REBILLY_RESOURCES = ("amlChecks", "customers", "disputes", "invoiceItems", "invoices", "journalRecords",
                     "payoutRequestAllocations", "payoutRequests", "subscriptions", "transactions", "users")


def test_every_vendor_entity_is_registered_with_its_keys() -> None:
    for entity in ENTITY_TYPES:
        schema = resolve(f"mews:{entity}")
        assert (schema.key_properties, schema.replication_key) == (("Id",), "UpdatedUtc")
    for resource in REBILLY_RESOURCES:
        schema = resolve(f"rebilly:{resource}")
        assert schema.key_properties == ("id",) and "id" in schema.field_names()
        assert "createdTime" in schema.field_names()
    assert resolve("logisense:Invoices").key_properties == ("rowId",)
    vendors = [n for n in names() if n.split(":")[0] in ("mews", "rebilly", "logisense")]  # other tests add their own
    assert len(vendors) == len(ENTITY_TYPES) + len(REBILLY_RESOURCES) + 1


def test_logisense_schema_is_the_default_for_any_export_name_and_unknown_vendors_have_none() -> None:
    assert lookup("logisense", "Usage") is resolve("logisense:Invoices")
    assert lookup("urls", "OrderItem") is None and lookup("mews", "NoSuchEntity") is None
    with pytest.raises(ValueError, match="unknown schema 'mews'"):
        resolve("mews")


def test_json_schema_has_properties_nullable_types_and_date_time() -> None:
    schema = resolve("rebilly:transactions").json_schema()
    props = schema["properties"]
    assert props["createdTime"] == {"type": ["string", "null"], "format": "date-time"}
    assert props["amount"] == {"type": ["number", "null"]}
    assert props["billingAddress"]["type"] == ["object", "null"]
    assert schema["additionalProperties"] is True
    assert resolve("logisense:Invoices").json_schema()["properties"]["amount"] == {"type": ["number", "null"], "format": "decimal"}


def test_rebilly_module_is_the_generators_output(tmp_path: Path) -> None:
    """streamer/schemas/rebilly.py is what the generator writes from the vendored OpenAPI snapshot."""
    out = tmp_path / "rebilly.py"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "generate_rebilly_schemas.py"), "--tree",
                    str(ROOT / "tests" / "data" / "rebilly_openapi"), "--output", str(out)], check=True, capture_output=True)
    assert out.read_text() == Path(rebilly_schemas.__file__).read_text()


def _record(source: str, entity: str, data: dict, **info: str) -> Record:
    return Record(data, PartInfo(source, 0, entity, "h-1", "part 0", **info), 3, 120)


@pytest.mark.parametrize("resource", sorted(BUILDERS))
def test_rebilly_records_of_the_simulator_are_typed(resource: str) -> None:
    import random

    data = {**BUILDERS[resource](random.Random(1), 0), "id": "r-1"}
    typed = _record("rebilly", resource, data).typed()
    assert typed.id == "r-1" and typed.created_time.tzinfo is not None


def test_logisense_csv_rows_are_converted_per_schema() -> None:
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(csv_export(7, 3).decode())))
    typed = _record("logisense", "Usage", rows[1]).typed()
    assert typed.row_id == "7-1" and isinstance(typed.account_id, int)
    assert typed.amount == Decimal(rows[1]["amount"]) and isinstance(typed.amount, Decimal)
    assert typed.created == datetime(2021, 4, 2, 1, 1, tzinfo=timezone.utc)
    blank = _record("logisense", "Usage", {**rows[0], "amount": "", "accountId": "", "description": ""}).typed()
    assert (blank.amount, blank.account_id, blank.description) == (None, None, "")


@pytest.mark.parametrize(("column", "value"), [("accountId", "12x"), ("amount", "1,50"), ("created", "yesterday")])
def test_a_value_that_does_not_fit_is_a_located_error(column: str, value: str) -> None:
    row = {"rowId": "7-0", "accountId": "1", "amount": "1.50", "created": "2021-04-01T00:00:00Z", column: value}
    with pytest.raises(DecodeError) as info:
        _record("logisense", "Usage", row).typed()
    message = str(info.value)
    assert (info.value.line, info.value.offset) == (3, 120)
    assert f"Usage does not match its schema: column {column!r} value {value!r}" in message
    assert message.startswith("Usage part 0 of export h-1, line 3, byte offset 120: ")


def test_urls_records_take_a_vendor_schema_by_name() -> None:
    from streamer.providers.urls import UrlSource

    source = UrlSource(["http://127.0.0.1:1/a.jsonl"], schema="mews:OrderItem")
    assert source.schema == "mews:OrderItem"
    line = b'{"Id":"o-1","UnitCount":2,"CreatedUtc":"2025-01-01T00:00:00Z","Novel":1}'
    record = Record(None, PartInfo("urls", 0, None, schema=source.schema), 1, 0, raw=line)
    typed = record.typed()
    assert typed.id == "o-1" and typed.unit_count == 2 and record.data["Novel"] == 1
    with pytest.raises(ValueError, match="unknown schema"):
        UrlSource(["http://127.0.0.1:1/a.jsonl"], schema="mews:Nope")
    untyped = Record(orjson.loads(line), PartInfo("urls", 0, None), 1, 0)
    with pytest.raises(LookupError):
        untyped.typed()
