"""Typed Mews entities (the Structs live in :mod:`streamer.schemas.mews`) and record ownership."""

from __future__ import annotations

from typing import Any

from streamer.schemas.mews import *  # noqa: F401,F403  (the Structs, importable from here as before)
from streamer.schemas.mews import ENTITIES, SCHEMAS  # noqa: F401


def owner_of(data: Any) -> tuple[str, str] | None:
    """``("EnterpriseId", id)`` or ``("ChainId", id)`` of a record's data, if it has one.

    Portfolio access tokens export many enterprises at once: this says which
    one (or which chain, for chain-wide entities such as Customer) a record
    belongs to.  Accepts ``record.data`` or a :class:`~streamer.records.Record`.
    """
    data = getattr(data, "data", data)
    if isinstance(data, dict):
        for key in ("EnterpriseId", "ChainId"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return key, value
    return None

