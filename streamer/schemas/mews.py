"""Mews schemas: msgspec Structs for the ten exportable entity types.

Field names are Python's snake_case and map to Mews's PascalCase
(``rename="pascal"``: ``created_utc`` ↔ ``CreatedUtc``).  Every field is
optional with a default and unknown fields are ignored, so an export that
gains a field tomorrow (or lacks one) still converts; the untyped
``record.data`` keeps every field regardless.  Money values are floats
because the export carries JSON numbers (and Singer schemas must say so).

``record.typed()`` converts on demand; the hot path never builds these.
Every entity is keyed by ``Id`` and replicated on ``UpdatedUtc`` (the
field the export's window filters on).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import msgspec

from streamer.schemas.base import EntitySchema


class _Entity(msgspec.Struct, kw_only=True, rename="pascal", omit_defaults=True):
    """Common base: keyword-only, PascalCase on the wire, tolerant of new fields."""


# --------------------------------------------------------------------- values


class TaxValue(_Entity):
    code: str | None = None
    value: float | None = None


class AmountBreakdownItem(_Entity):
    tax_rate_code: str | None = None
    net_value: float | None = None
    tax_value: float | None = None


class AmountBreakdown(_Entity):
    items: list[AmountBreakdownItem] = []


class Amount(_Entity):
    """A Mews amount: net, gross, the taxes that make the difference, per tax rate."""

    currency: str | None = None
    net_value: float | None = None
    gross_value: float | None = None
    tax_values: list[TaxValue] = []
    breakdown: AmountBreakdown | None = None


class PersonCount(_Entity):
    age_category_id: str | None = None
    count: int | None = None


# ------------------------------------------------------------------- entities


class OrderItem(_Entity):
    id: str | None = None
    enterprise_id: str | None = None
    account_id: str | None = None
    account_type: str | None = None
    service_id: str | None = None
    service_order_id: str | None = None
    bill_id: str | None = None
    accounting_category_id: str | None = None
    unit_count: int | None = None
    unit_amount: Amount | None = None
    amount: Amount | None = None
    original_amount: Amount | None = None
    revenue_type: str | None = None
    created_utc: datetime | None = None
    updated_utc: datetime | None = None
    consumed_utc: datetime | None = None
    canceled_utc: datetime | None = None
    closed_utc: datetime | None = None
    start_utc: datetime | None = None
    claimed_utc: datetime | None = None
    accounting_state: str | None = None
    type: str | None = None
    options: dict[str, Any] | None = None
    data: dict[str, Any] | None = None


class Payment(_Entity):
    id: str | None = None
    enterprise_id: str | None = None
    account_id: str | None = None
    account_type: str | None = None
    bill_id: str | None = None
    reservation_id: str | None = None
    amount: Amount | None = None
    original_amount: Amount | None = None
    created_utc: datetime | None = None
    updated_utc: datetime | None = None
    charged_utc: datetime | None = None
    closed_utc: datetime | None = None
    settlement_utc: datetime | None = None
    accounting_state: str | None = None
    state: str | None = None
    type: str | None = None
    kind: str | None = None
    data: dict[str, Any] | None = None


class Reservation(_Entity):
    """A reservation (Mews exports carry no EnterpriseId on it; ServiceId locates it)."""

    id: str | None = None
    service_id: str | None = None
    account_id: str | None = None
    number: str | None = None
    state: str | None = None
    origin: str | None = None
    created_utc: datetime | None = None
    updated_utc: datetime | None = None
    cancelled_utc: datetime | None = None
    rate_id: str | None = None
    group_id: str | None = None
    requested_resource_category_id: str | None = None
    assigned_resource_id: str | None = None
    scheduled_start_utc: datetime | None = None
    scheduled_end_utc: datetime | None = None
    actual_start_utc: datetime | None = None
    actual_end_utc: datetime | None = None
    person_counts: list[PersonCount] = []


class Customer(_Entity):
    id: str | None = None
    chain_id: str | None = None
    number: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    created_utc: datetime | None = None
    updated_utc: datetime | None = None
    classifications: list[str] = []
    options: list[str] = []
    is_active: bool | None = None


class Company(_Entity):
    id: str | None = None
    chain_id: str | None = None
    name: str | None = None
    number: int | None = None
    identifier: str | None = None
    tax_identifier: str | None = None
    invoicing_email: str | None = None
    credit_rating: dict[str, Any] | None = None
    created_utc: datetime | None = None
    updated_utc: datetime | None = None
    is_active: bool | None = None


class Bill(_Entity):
    id: str | None = None
    enterprise_id: str | None = None
    account_id: str | None = None
    account_type: str | None = None
    counter_id: str | None = None
    number: str | None = None
    state: str | None = None
    type: str | None = None
    currency: str | None = None
    created_utc: datetime | None = None
    updated_utc: datetime | None = None
    issued_utc: datetime | None = None
    due_utc: datetime | None = None
    paid_utc: datetime | None = None
    notes: str | None = None


class AvailabilityAdjustment(_Entity):
    id: str | None = None
    enterprise_id: str | None = None
    service_id: str | None = None
    availability_block_id: str | None = None
    resource_category_id: str | None = None
    first_time_unit_start_utc: datetime | None = None
    last_time_unit_start_utc: datetime | None = None
    unit_count: int | None = None
    activity_state: str | None = None
    created_utc: datetime | None = None
    updated_utc: datetime | None = None
    released_utc: datetime | None = None


class AvailabilityBlock(_Entity):
    id: str | None = None
    enterprise_id: str | None = None
    service_id: str | None = None
    rate_id: str | None = None
    company_id: str | None = None
    booker_id: str | None = None
    name: str | None = None
    state: str | None = None
    reservation_purpose: str | None = None
    budget: Amount | None = None
    first_time_unit_start_utc: datetime | None = None
    last_time_unit_start_utc: datetime | None = None
    released_utc: datetime | None = None
    created_utc: datetime | None = None
    updated_utc: datetime | None = None
    external_identifier: str | None = None
    is_active: bool | None = None


class ResourceBlock(_Entity):
    id: str | None = None
    enterprise_id: str | None = None
    assigned_resource_id: str | None = None
    name: str | None = None
    type: str | None = None
    start_utc: datetime | None = None
    end_utc: datetime | None = None
    created_utc: datetime | None = None
    updated_utc: datetime | None = None
    deleted_utc: datetime | None = None
    notes: str | None = None
    is_active: bool | None = None


class LedgerEntry(_Entity):
    """Beta in Mews: fields may change; ``value`` is an :class:`Amount`."""

    id: str | None = None
    enterprise_id: str | None = None
    transaction_id: str | None = None
    account_id: str | None = None
    bill_id: str | None = None
    ledger_type: str | None = None
    ledger_entry_type: str | None = None
    posting_date: date | None = None
    value: Amount | None = None
    created_utc: datetime | None = None


ENTITIES: dict[str, type[msgspec.Struct]] = {
    "OrderItem": OrderItem,
    "Payment": Payment,
    "Reservation": Reservation,
    "Customer": Customer,
    "Company": Company,
    "Bill": Bill,
    "AvailabilityAdjustment": AvailabilityAdjustment,
    "AvailabilityBlock": AvailabilityBlock,
    "ResourceBlock": ResourceBlock,
    "LedgerEntry": LedgerEntry,
}


SCHEMAS: tuple[EntitySchema, ...] = tuple(
    EntitySchema("mews", name, struct, key_properties=("Id",), replication_key="UpdatedUtc")
    for name, struct in ENTITIES.items()
)
