"""Typed Mews entities: every type registered, unknown fields tolerated, errors located."""

from __future__ import annotations

from datetime import datetime, timezone

import msgspec
import orjson
import pytest

from streamer.entities import entity_struct
from streamer.errors import DecodeError
from streamer.providers.mews import entities as mews_entities
from streamer.providers.mews.requests import ENTITY_TYPES
from streamer.records import PartInfo, Record
from streamer.simulator.records import build_templates
from streamer.sinks.singer import stream_schema


def record(entity: str, data: dict) -> Record:
    return Record(data, PartInfo("mews", 2, entity, "export-1", "part 3/4"), 17, 4096)


@pytest.mark.parametrize("entity", ENTITY_TYPES)
def test_every_entity_type_is_registered_and_converts_simulated_records(entity: str) -> None:
    struct = entity_struct("mews", entity)
    assert struct is mews_entities.ENTITIES[entity] and struct.__name__ == entity
    for template in build_templates(entity, 3, 0, ["ent-1"])[:8]:
        typed = record(entity, orjson.loads(template)).typed()
        assert isinstance(typed, struct)
        assert typed.id == "00000000-0000-4000-8000-000000000000"
        assert typed.created_utc is None or typed.created_utc.tzinfo is not None


def test_amount_is_its_own_type_with_taxes_and_breakdown() -> None:
    data = orjson.loads(build_templates("OrderItem", 1, 0, ["ent-1"])[0])
    item = record("OrderItem", data).typed()
    amount = item.amount
    assert isinstance(amount, mews_entities.Amount)
    assert amount.currency == data["Amount"]["Currency"]
    assert amount.gross_value == data["Amount"]["GrossValue"]
    assert amount.tax_values[0].code == data["Amount"]["TaxValues"][0]["Code"]
    assert amount.breakdown.items[0].tax_rate_code == data["Amount"]["Breakdown"]["Items"][0]["TaxRateCode"]
    assert item.enterprise_id == "ent-1"


def test_unknown_fields_survive_in_data_and_do_not_break_typing() -> None:
    data = {
        "Id": "p1",
        "EnterpriseId": "ent-9",
        "Amount": {"Currency": "EUR", "NetValue": 10, "GrossValue": 12.1, "NewAmountField": [1, 2]},
        "CreatedUtc": "2025-06-01T10:00:00Z",
        "BrandNewField": {"nested": True},
    }
    rec = record("Payment", data)
    payment = rec.typed()
    assert payment.enterprise_id == "ent-9"
    assert payment.amount.net_value == 10.0
    assert payment.created_utc == datetime(2025, 6, 1, 10, tzinfo=timezone.utc)
    assert rec.data["BrandNewField"] == {"nested": True}
    assert rec.entity_type == "Payment"
    assert mews_entities.owner_of(rec) == ("EnterpriseId", "ent-9")
    assert mews_entities.owner_of({"ChainId": "chain-1"}) == ("ChainId", "chain-1")
    assert mews_entities.owner_of({"ServiceId": "s"}) is None


def test_a_wrong_type_is_a_located_decode_error() -> None:
    rec = record("OrderItem", {"Id": "o1", "UnitCount": "three"})
    with pytest.raises(DecodeError) as info:
        rec.typed()
    error = info.value
    assert error.line == 17 and error.offset == 4096
    assert "OrderItem part 3/4 of export export-1" in str(error)
    assert "$.UnitCount" in str(error)


def test_structs_encode_back_to_mews_field_names() -> None:
    customer = mews_entities.Customer(id="c1", first_name="Eva", is_active=True)
    assert orjson.loads(msgspec.json.encode(customer)) == {"Id": "c1", "FirstName": "Eva", "IsActive": True}


def test_singer_schema_comes_from_the_struct() -> None:
    schema = stream_schema("mews", "OrderItem")
    assert schema["additionalProperties"] is True
    assert "UnitAmount" in schema["properties"] and "CreatedUtc" in schema["properties"]
    assert schema["properties"]["UnitAmount"]["properties"]["NetValue"] == {"type": ["number", "null"]}
    assert schema["properties"]["CreatedUtc"] == {"type": ["string", "null"], "format": "date-time"}
