"""LogiSense schemas: the DataExport rows the simulator serves (an invoice-line export).

LogiSense exports are CSV, so every value arrives as text; the Struct says
what each column holds and :mod:`streamer.schemas.convert` turns the text
into it (``accountId`` → int, ``amount`` → exact Decimal, ``created`` →
datetime, empty → null).  A DataExport is named by the user, not by a fixed
entity type, so this schema is also LogiSense's default for any export
name streamer does not know; columns it does not declare stay text, and
are kept.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import msgspec

from streamer.schemas.base import EntitySchema


class Invoices(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    """One row of the simulator's "Invoices" DataExport (``CSV_COLUMNS`` in streamer.simulator.logisense)."""

    row_id: str | None = None
    account_id: int | None = None
    account_name: str | None = None
    invoice_number: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    description: str | None = None
    created: datetime | None = None


VENDOR_DEFAULT = EntitySchema("logisense", "Invoices", Invoices, key_properties=("rowId",), replication_key="created")
SCHEMAS: tuple[EntitySchema, ...] = (VENDOR_DEFAULT,)
