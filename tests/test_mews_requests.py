"""exports/add bodies and the documented limits, checked before any request."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from streamer.errors import ConfigError
from streamer.providers.mews.requests import ENTITY_TYPES, ExportRequest, build_requests

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def body(entity: str = "OrderItem", **kwargs) -> dict:
    (request,) = build_requests([entity], now=NOW, **kwargs)
    return request.body()


def test_plain_body_is_just_the_entity_type() -> None:
    assert body() == {"EntityType": "OrderItem"}


def test_all_ten_entity_types_are_accepted() -> None:
    requests = build_requests(
        list(ENTITY_TYPES), posting_from=date(2026, 1, 1), posting_to=date(2026, 1, 31), now=NOW
    )
    assert [r.entity_type for r in requests] == list(ENTITY_TYPES)
    assert len(ENTITY_TYPES) == 10
    ledger = requests[-1].body()
    assert ledger["Filters"]["LedgerEntryFilters"]["Posting"] == {"Start": "2026-01-01", "End": "2026-01-31"}
    assert "Filters" not in requests[0].body()  # the posting interval is LedgerEntry's only


def test_scope_and_updated_filter() -> None:
    start = NOW - timedelta(days=30)
    end = NOW - timedelta(hours=1)
    assert body(enterprise_ids=["e1", "e2"], updated_from=start, updated_to=end) == {
        "EntityType": "OrderItem",
        "Scope": {"EnterpriseIds": ["e1", "e2"]},
        "Filters": {"UpdatedUtc": {"StartUtc": "2026-01-30T12:00:00Z", "EndUtc": "2026-03-01T11:00:00Z"}},
    }
    assert body(chain_ids=["c1"])["Scope"] == {"ChainIds": ["c1"]}


def test_updated_to_defaults_to_five_minutes_before_now() -> None:
    filters = body(updated_from=NOW - timedelta(days=1))["Filters"]["UpdatedUtc"]
    assert filters == {"StartUtc": "2026-02-28T12:00:00Z", "EndUtc": "2026-03-01T11:55:00Z"}


def test_naive_datetimes_are_utc() -> None:
    naive = datetime(2026, 2, 1, 8, 30)
    assert body(updated_from=naive)["Filters"]["UpdatedUtc"]["StartUtc"] == "2026-02-01T08:30:00Z"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"updated_from": NOW - timedelta(days=1), "updated_to": NOW - timedelta(minutes=2)}, "at least 5 minutes in the past"),
        ({"updated_from": NOW - timedelta(days=181), "updated_to": NOW - timedelta(days=0.5)}, "at most 180"),
        ({"updated_from": NOW - timedelta(days=1), "updated_to": NOW - timedelta(days=2)}, "is after its end"),
        ({"updated_to": NOW - timedelta(days=1)}, "needs a start"),
        ({"enterprise_ids": ["a"], "chain_ids": ["b"]}, "not both"),
        ({"enterprise_ids": [f"e{i}" for i in range(1001)]}, "at most 1000"),
        ({"chain_ids": [f"c{i}" for i in range(1001)]}, "ChainIds has 1001 ids"),
        ({"posting_from": date(2026, 1, 1), "posting_to": date(2026, 1, 2)}, "only applies to LedgerEntry"),
    ],
)
def test_documented_limits_are_config_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_requests(["OrderItem"], now=NOW, **kwargs)


def test_ledger_entry_needs_an_ordered_posting_interval() -> None:
    with pytest.raises(ConfigError, match="--posting-from/--posting-to"):
        build_requests(["LedgerEntry"], now=NOW)
    with pytest.raises(ConfigError, match="posting start 2026-02-01 is after its end"):
        build_requests(["LedgerEntry"], posting_from=date(2026, 2, 1), posting_to=date(2026, 1, 1), now=NOW)


def test_unknown_entity_and_empty_list() -> None:
    with pytest.raises(ConfigError, match="choose from OrderItem"):
        ExportRequest("Invoice").validate(NOW)
    with pytest.raises(ConfigError, match="at least one"):
        build_requests([], now=NOW)


def test_duplicate_entity_types_are_exported_once() -> None:
    assert [r.entity_type for r in build_requests(["Payment", "Payment", "Bill"], now=NOW)] == ["Payment", "Bill"]
