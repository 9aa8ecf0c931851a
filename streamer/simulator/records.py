"""Realistic, seeded record templates shaped like the vendors' entities.

Each part gets a pool of ``TEMPLATES_PER_PART`` distinct records generated
from its seed; record *i* of the part is one of them with a unique ``Id``
spliced in.  Every template has a fixed byte length and the ``Id`` a fixed
width, which is what lets :class:`~streamer.simulator.content.PartContent`
compute any record's byte offset, and so serve ``Range`` requests on a
multi-GB file, without generating what comes before it.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

TEMPLATES_PER_PART = 64
ID_PLACEHOLDER = "00000000-0000-4000-8000-{:012x}"
ID_WIDTH = 12
CURRENCIES = ("EUR", "GBP", "CZK", "USD", "CHF")
EPOCH = datetime(2025, 1, 1, tzinfo=timezone.utc)

Builder = Callable[[random.Random, dict[str, Any]], dict[str, Any]]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _utc(rng: random.Random, days: int = 300) -> str:
    return _stamp(EPOCH + timedelta(seconds=rng.randrange(days * 86400)))


def _random_day(rng: random.Random) -> datetime:
    """Midnight of one of the first 300 days after :data:`EPOCH`."""
    return EPOCH + timedelta(days=rng.randrange(300))


def _stamp(moment: datetime) -> str:
    """Mews' UTC timestamp, to the second."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _time_units(first: datetime, last_after_days: int) -> dict[str, str]:
    """The first and last time unit a block or an adjustment of availability covers."""
    return {
        "FirstTimeUnitStartUtc": _stamp(first),
        "LastTimeUnitStartUtc": _stamp(first + timedelta(days=last_after_days)),
    }


def _amount(rng: random.Random, currency: str) -> dict[str, Any]:
    net = round(rng.uniform(1, 900), 2)
    rate = rng.choice((0.0, 0.1, 0.15, 0.21))
    tax = round(net * rate, 2)
    code = f"{currency[:2]}-{int(rate * 100)}"
    return {
        "Currency": currency,
        "NetValue": net,
        "GrossValue": round(net + tax, 2),
        "TaxValues": [{"Code": code, "Value": tax}],
        "Breakdown": {"Items": [{"TaxRateCode": code, "NetValue": net, "TaxValue": tax}]},
    }


def order_item(rng: random.Random, ctx: dict[str, Any]) -> dict[str, Any]:
    currency = ctx["currency"]
    created = _utc(rng)
    unit = _amount(rng, currency)
    count = rng.randint(1, 4)
    return {
        "EnterpriseId": ctx["enterprise"],
        "AccountId": _uuid(rng),
        "AccountType": rng.choice(("Customer", "Company")),
        "ServiceId": ctx["service"],
        "ServiceOrderId": _uuid(rng),
        "BillId": _uuid(rng) if rng.random() < 0.6 else None,
        "AccountingCategoryId": _uuid(rng),
        "UnitCount": count,
        "UnitAmount": unit,
        "Amount": _amount(rng, currency),
        "OriginalAmount": unit,
        "RevenueType": rng.choice(("Service", "Product", "Additional")),
        "CreatedUtc": created,
        "UpdatedUtc": created,
        "ConsumedUtc": _utc(rng),
        "CanceledUtc": None,
        "ClosedUtc": _utc(rng) if rng.random() < 0.5 else None,
        "StartUtc": _utc(rng),
        "ClaimedUtc": None,
        "AccountingState": rng.choice(("Open", "Closed", "Inactive")),
        "Type": rng.choice(("SpaceOrder", "ProductOrder", "CityTax")),
        "Options": {"CanceledWithReservation": rng.random() < 0.1},
        "Data": {"Discriminator": "Product", "Value": {"ProductId": _uuid(rng)}},
    }


def payment(rng: random.Random, ctx: dict[str, Any]) -> dict[str, Any]:
    currency = ctx["currency"]
    created = _utc(rng)
    amount = _amount(rng, currency)
    return {
        "EnterpriseId": ctx["enterprise"],
        "AccountId": _uuid(rng),
        "AccountType": "Customer",
        "BillId": _uuid(rng),
        "ReservationId": _uuid(rng) if rng.random() < 0.7 else None,
        "Amount": amount,
        "OriginalAmount": amount,
        "CreatedUtc": created,
        "UpdatedUtc": created,
        "ChargedUtc": _utc(rng),
        "ClosedUtc": None,
        "SettlementUtc": _utc(rng) if rng.random() < 0.5 else None,
        "AccountingState": rng.choice(("Open", "Closed")),
        "State": rng.choice(("Charged", "Pending", "Failed", "Verifying")),
        "Type": rng.choice(("CreditCardPayment", "CashPayment", "InvoicePayment")),
        "Kind": rng.choice(("Payment", "Refund")),
        "Data": {"Discriminator": "CreditCard", "CreditCard": {"Format": "Visa"}},
    }


def reservation(rng: random.Random, ctx: dict[str, Any]) -> dict[str, Any]:
    start = _random_day(rng)
    end = start + timedelta(days=rng.randint(1, 9))
    return {
        "ServiceId": ctx["service"],
        "AccountId": _uuid(rng),
        "Number": str(rng.randrange(10**6, 10**7)),
        "State": rng.choice(("Confirmed", "Started", "Processed", "Canceled")),
        "Origin": rng.choice(("Distributor", "Connector", "Commander")),
        "CreatedUtc": _utc(rng),
        "UpdatedUtc": _utc(rng),
        "CancelledUtc": None,
        "RateId": _uuid(rng),
        "GroupId": _uuid(rng),
        "RequestedResourceCategoryId": _uuid(rng),
        "AssignedResourceId": _uuid(rng),
        "ScheduledStartUtc": _stamp(start),
        "ScheduledEndUtc": _stamp(end),
        "ActualStartUtc": None,
        "ActualEndUtc": None,
        "PersonCounts": [{"AgeCategoryId": _uuid(rng), "Count": rng.randint(1, 3)}],
    }


FIRST = ("Anna", "Jan", "Marie", "Tomas", "Eva", "Lukas", "Sofia", "Noah", "Emma", "Liam")
LAST = ("Novak", "Svoboda", "Smith", "Muller", "Rossi", "Dubois", "Garcia", "Kowalski")


def customer(rng: random.Random, ctx: dict[str, Any]) -> dict[str, Any]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return {
        "ChainId": ctx["chain"],
        "Number": str(rng.randrange(10**5, 10**6)),
        "FirstName": first,
        "LastName": last,
        "Email": f"{first}.{last}{rng.randrange(1000)}@example.com".lower(),
        "CreatedUtc": _utc(rng),
        "UpdatedUtc": _utc(rng),
        "Classifications": rng.sample(["Returning", "Vip", "Blacklist", "Media", "Staff"], 2),
        "Options": ["SendMarketingEmails"] if rng.random() < 0.5 else [],
        "IsActive": rng.random() < 0.95,
    }


def ledger_entry(rng: random.Random, ctx: dict[str, Any]) -> dict[str, Any]:
    return {
        "EnterpriseId": ctx["enterprise"],
        "TransactionId": _uuid(rng),
        "AccountId": _uuid(rng),
        "LedgerType": rng.choice(("Revenue", "Tax", "Payment", "Deposit", "Guest")),
        "LedgerEntryType": rng.choice(("Debit", "Credit")),
        "PostingDate": _random_day(rng).strftime("%Y-%m-%d"),
        "Value": _amount(rng, ctx["currency"]),
        "CreatedUtc": _utc(rng),
    }


def company(rng: random.Random, ctx: dict[str, Any]) -> dict[str, Any]:
    created = _utc(rng)
    name = f"{rng.choice(LAST)} {rng.choice(('Travel', 'Holdings', 'Events', 'Consulting'))}"
    return {
        "ChainId": ctx["chain"],
        "Name": name,
        "Number": rng.randrange(1000, 99999),
        "Identifier": str(rng.randrange(10**7, 10**8)),
        "TaxIdentifier": f"CZ{rng.randrange(10**7, 10**8)}",
        "InvoicingEmail": f"billing{rng.randrange(1000)}@example.com",
        "CreditRating": {"Basic": rng.choice(("CreditOk", "PaymentRequiredUpfront"))},
        "CreatedUtc": created,
        "UpdatedUtc": created,
        "IsActive": rng.random() < 0.95,
    }


def bill(rng: random.Random, ctx: dict[str, Any]) -> dict[str, Any]:
    created = _utc(rng)
    closed = rng.random() < 0.6
    return {
        "EnterpriseId": ctx["enterprise"],
        "AccountId": _uuid(rng),
        "AccountType": rng.choice(("Customer", "Company")),
        "CounterId": _uuid(rng),
        "Number": str(rng.randrange(10**5, 10**6)) if closed else None,
        "State": "Closed" if closed else "Open",
        "Type": rng.choice(("Receipt", "Invoice")),
        "Currency": ctx["currency"],
        "CreatedUtc": created,
        "UpdatedUtc": created,
        "IssuedUtc": _utc(rng) if closed else None,
        "DueUtc": _utc(rng) if closed else None,
        "PaidUtc": None,
        "Notes": rng.choice(("", "Late checkout", "Group booking")),
    }


def availability_adjustment(rng: random.Random, ctx: dict[str, Any]) -> dict[str, Any]:
    first = _random_day(rng)
    return {
        "EnterpriseId": ctx["enterprise"],
        "ServiceId": ctx["service"],
        "AvailabilityBlockId": _uuid(rng) if rng.random() < 0.5 else None,
        "ResourceCategoryId": _uuid(rng),
        **_time_units(first, rng.randint(0, 6)),
        "UnitCount": rng.randint(-5, 5),
        "ActivityState": rng.choice(("Active", "Deleted")),
        "CreatedUtc": _utc(rng),
        "UpdatedUtc": _utc(rng),
        "ReleasedUtc": None,
    }


def availability_block(rng: random.Random, ctx: dict[str, Any]) -> dict[str, Any]:
    first = _random_day(rng)
    return {
        "EnterpriseId": ctx["enterprise"],
        "ServiceId": ctx["service"],
        "RateId": _uuid(rng),
        "CompanyId": _uuid(rng) if rng.random() < 0.5 else None,
        "BookerId": None,
        "Name": f"{rng.choice(LAST)} wedding",
        "State": rng.choice(("Confirmed", "Optional", "Inquired", "Canceled")),
        "ReservationPurpose": rng.choice(("Leisure", "Business")),
        "Budget": _amount(rng, ctx["currency"]),
        **_time_units(first, rng.randint(1, 5)),
        "ReleasedUtc": _stamp(first - timedelta(days=14)),
        "CreatedUtc": _utc(rng),
        "UpdatedUtc": _utc(rng),
        "ExternalIdentifier": str(rng.randrange(10**5, 10**6)),
        "IsActive": True,
    }


def resource_block(rng: random.Random, ctx: dict[str, Any]) -> dict[str, Any]:
    start = _random_day(rng)
    return {
        "EnterpriseId": ctx["enterprise"],
        "AssignedResourceId": _uuid(rng),
        "Name": rng.choice(("Renovation", "Broken AC", "Staff use")),
        "Type": rng.choice(("OutOfOrder", "InternalUse")),
        "StartUtc": _stamp(start),
        "EndUtc": _stamp(start + timedelta(days=rng.randint(1, 10))),
        "CreatedUtc": _utc(rng),
        "UpdatedUtc": _utc(rng),
        "DeletedUtc": None,
        "Notes": "",
        "IsActive": True,
    }


BUILDERS: dict[str, Builder] = {
    "OrderItem": order_item,
    "Payment": payment,
    "Reservation": reservation,
    "Customer": customer,
    "LedgerEntry": ledger_entry,
    "Company": company,
    "Bill": bill,
    "AvailabilityAdjustment": availability_adjustment,
    "AvailabilityBlock": availability_block,
    "ResourceBlock": resource_block,
}
"""Entity type → builder; providers' simulators may register more."""


def build_templates(entity_type: str, seed: int, part_index: int, enterprises: list[str]) -> list[bytes]:
    """The distinct records of one part, as JSON bytes with an ``Id`` placeholder first."""
    builder = BUILDERS.get(entity_type, order_item)
    rng = random.Random(f"{seed}/{entity_type}/{part_index}")
    chain = str(uuid.UUID(int=random.Random(seed).getrandbits(128), version=4))
    templates = []
    for _ in range(TEMPLATES_PER_PART):
        ctx = {
            "enterprise": rng.choice(enterprises),
            "chain": chain,
            "service": _uuid(rng),
            "currency": rng.choice(CURRENCIES),
        }
        body = builder(rng, ctx)
        record = {"Id": ID_PLACEHOLDER.format(0), **body}
        templates.append(orjson.dumps(record))
    return templates
