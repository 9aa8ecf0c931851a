"""What Rebilly's OpenAPI says can be exported, and the limits of a request.

Read from ``Rebilly/api-definitions`` at commit ``657cabcf0a23555b2334de8ecbc336a9c3a1d607``
(2026-08-21; the same snapshot as ``tests/data/rebilly_openapi``, whose tests
check this table against it): ``DataExport.yaml``'s ``discriminator.mapping``
names the resources, each ``<Resource>DataExport.yaml`` its formats and the
default of ``dateRange.field``; ``name`` has ``maxLength: 50`` and the
collection parameters ``offset``/``limit`` have ``maximum: 1000``.
"""

from __future__ import annotations

from dataclasses import dataclass

NAME_MAX_LENGTH = 50
"""``name`` of a data export: ``maxLength: 50`` (longer → 422)."""
OFFSET_MAX = 1000
"""``collectionOffset``: ``maximum: 1000`` — a listing cannot be walked past it by offset alone."""
LIMIT_MAX = 1000
"""``collectionLimit``: ``maximum: 1000``."""

RECORD_FORMATS = ("csv", "detailed-csv", "json", "json-api")
"""Formats with line records (``detailed-csv`` is a CSV with more columns, read as CSV)."""
RECORDLESS_FORMATS = ("xml", "pdf")


@dataclass(frozen=True)
class ExportableResource:
    name: str
    formats: tuple[str, ...]
    """The formats its schema's ``format`` enum allows."""
    date_field: str
    """What ``dateRange`` filters on when ``dateRange.field`` is not sent (the schema's default)."""


_ALL = ("csv", "json", "json-api", "xml")
RESOURCES: dict[str, ExportableResource] = {
    r.name: r
    for r in (
        ExportableResource("customers", (*_ALL, "detailed-csv"), "createdTime"),
        ExportableResource("subscriptions", (*_ALL, "detailed-csv"), "createdTime"),
        ExportableResource("transactions", (*_ALL, "detailed-csv"), "processedTime"),
        ExportableResource("invoices", (*_ALL, "pdf", "detailed-csv"), "issuedTime"),
        ExportableResource("invoiceItems", (*_ALL, "detailed-csv"), "issuedTime"),
        ExportableResource("amlChecks", (*_ALL, "detailed-csv"), "createdTime"),
        ExportableResource("disputes", _ALL, "createdTime"),
        ExportableResource("journalRecords", _ALL, "createdTime"),
        ExportableResource("payoutRequests", _ALL, "createdTime"),
        ExportableResource("payoutRequestAllocations", _ALL, "createdTime"),
        ExportableResource("users", ("csv", "json"), "createdTime"),
    )
}
FORMATS = tuple(dict.fromkeys(f for r in RESOURCES.values() for f in r.formats))
"""Every format some resource allows."""


def date_field_help() -> str:
    """``--date-field``'s default, per resource, as the spec declares it."""
    by_field: dict[str, list[str]] = {}
    for resource in RESOURCES.values():
        by_field.setdefault(resource.date_field, []).append(resource.name)
    others = max(by_field, key=lambda f: len(by_field[f]))
    named = [f"{field} for {', '.join(names)}" for field, names in by_field.items() if field != others]
    return "; ".join([*named, f"{others} for the others"])
