"""What to export: one ``exports/add`` request per entity type, validated up front.

Mews rejects a bad filter with a 400 after the fact; checking the documented
limits here turns a failed nightly run into a clear :class:`ConfigError`
before any request is sent:

* ``Scope``: ``EnterpriseIds`` *or* ``ChainIds``, at most 1000 each;
* ``Filters.UpdatedUtc``: ``EndUtc`` at least 5 minutes in the past, a span
  of at most 180 days;
* ``LedgerEntry`` requires ``Filters.LedgerEntryFilters.Posting`` (dates).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from streamer.errors import ConfigError

ENTITY_TYPES = (
    "OrderItem",
    "Payment",
    "Reservation",
    "Customer",
    "Company",
    "Bill",
    "AvailabilityAdjustment",
    "AvailabilityBlock",
    "ResourceBlock",
    "LedgerEntry",
)
MAX_SCOPE_IDS = 1000
MIN_END_AGE = timedelta(minutes=5)
MAX_UPDATED_SPAN = timedelta(days=180)


def utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (naive values are taken to be UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def iso_utc(moment: datetime) -> str:
    return utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ExportRequest:
    """The body of one ``exports/add`` call (auth excluded)."""

    entity_type: str
    enterprise_ids: tuple[str, ...] = ()
    chain_ids: tuple[str, ...] = ()
    updated_from: datetime | None = None
    updated_to: datetime | None = None
    posting_from: date | None = None
    posting_to: date | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc), compare=False)
    """When the request was built: ``updated_to`` defaults to 5 minutes before it."""

    def validate(self, now: datetime | None = None) -> None:
        """Raise :class:`ConfigError` naming the option that breaks a documented limit."""
        now = utc(now or datetime.now(timezone.utc))
        what = f"Mews {self.entity_type} export"
        if self.entity_type not in ENTITY_TYPES:
            raise ConfigError(
                f"unknown Mews entity type {self.entity_type!r}; choose from {', '.join(ENTITY_TYPES)}"
            )
        if self.enterprise_ids and self.chain_ids:
            raise ConfigError(f"{what}: Scope takes EnterpriseIds or ChainIds, not both")
        for name, ids in (("EnterpriseIds", self.enterprise_ids), ("ChainIds", self.chain_ids)):
            if len(ids) > MAX_SCOPE_IDS:
                raise ConfigError(f"{what}: Scope.{name} has {len(ids)} ids; Mews accepts at most {MAX_SCOPE_IDS}")
        if self.updated_to is not None and self.updated_from is None:
            raise ConfigError(f"{what}: an UpdatedUtc end (updated_to) needs a start (updated_from) too")
        if self.updated_from is not None:
            start, end = self.updated_interval()
            latest = now - MIN_END_AGE
            if end > latest:
                raise ConfigError(
                    f"{what}: UpdatedUtc end {iso_utc(end)} must be at least 5 minutes in the past "
                    f"(at most {iso_utc(latest)})"
                )
            if start > end:
                raise ConfigError(f"{what}: UpdatedUtc start {iso_utc(start)} is after its end {iso_utc(end)}")
            if end - start > MAX_UPDATED_SPAN:
                raise ConfigError(
                    f"{what}: UpdatedUtc spans {(end - start).days} days; Mews accepts at most 180 — "
                    "split the range into several runs"
                )
        if self.entity_type == "LedgerEntry":
            if self.posting_from is None or self.posting_to is None:
                raise ConfigError(
                    "Mews LedgerEntry exports require a posting date interval "
                    "(posting_from and posting_to; CLI: --posting-from/--posting-to)"
                )
            if self.posting_from > self.posting_to:
                raise ConfigError(
                    f"{what}: posting start {self.posting_from} is after its end {self.posting_to}"
                )

    def updated_interval(self) -> tuple[datetime, datetime]:
        assert self.updated_from is not None
        end = self.updated_to if self.updated_to is not None else utc(self.created_at) - MIN_END_AGE
        return utc(self.updated_from), utc(end)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"EntityType": self.entity_type}
        if self.enterprise_ids:
            body["Scope"] = {"EnterpriseIds": list(self.enterprise_ids)}
        elif self.chain_ids:
            body["Scope"] = {"ChainIds": list(self.chain_ids)}
        filters: dict[str, Any] = {}
        if self.updated_from is not None:
            start, end = self.updated_interval()
            filters["UpdatedUtc"] = {"StartUtc": iso_utc(start), "EndUtc": iso_utc(end)}
        if self.entity_type == "LedgerEntry" and self.posting_from is not None and self.posting_to is not None:
            filters["LedgerEntryFilters"] = {
                "Posting": {"Start": self.posting_from.isoformat(), "End": self.posting_to.isoformat()}
            }
        if filters:
            body["Filters"] = filters
        return body


def build_requests(
    entity_types: Sequence[str],
    *,
    enterprise_ids: Sequence[str] = (),
    chain_ids: Sequence[str] = (),
    updated_from: datetime | None = None,
    updated_to: datetime | None = None,
    posting_from: date | None = None,
    posting_to: date | None = None,
    now: datetime | None = None,
) -> list[ExportRequest]:
    """One validated request per distinct entity type, sharing scope and filters."""
    if isinstance(entity_types, str):
        entity_types = [entity_types]
    if not entity_types:
        raise ConfigError(f"name at least one Mews entity type ({', '.join(ENTITY_TYPES)})")
    if (posting_from is not None or posting_to is not None) and "LedgerEntry" not in entity_types:
        raise ConfigError("a posting interval only applies to LedgerEntry exports, which were not requested")
    created_at = utc(now or datetime.now(timezone.utc))
    requests = []
    for entity_type in dict.fromkeys(entity_types):
        request = ExportRequest(
            entity_type=entity_type,
            enterprise_ids=tuple(enterprise_ids),
            chain_ids=tuple(chain_ids),
            updated_from=updated_from,
            updated_to=updated_to,
            posting_from=posting_from,
            posting_to=posting_to,
            created_at=created_at,
        )
        request.validate(created_at)
        requests.append(request)
    return requests
