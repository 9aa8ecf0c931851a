"""Typed views of records: entity type → msgspec Struct, registered by providers.

Typing is opt-in and off the hot path: ``record.typed()`` decodes the
record's line straight into its Struct (one msgspec decoder per Struct, no
dict on the way) when a consumer asks.  Unknown fields are ignored
by the Struct but stay in ``record.data``.
"""

from __future__ import annotations

from typing import Any

import msgspec

_TYPES: dict[tuple[str, str], type[msgspec.Struct]] = {}


def register_entity(source: str, entity_type: str, struct: type[msgspec.Struct]) -> None:
    _TYPES[(source, entity_type)] = struct


def entity_struct(source: str, entity_type: str | None) -> type[msgspec.Struct] | None:
    if entity_type is None:
        return None
    return _TYPES.get((source, entity_type))


def to_typed(record: Any) -> Any:
    """Convert a record to its registered Struct (see :func:`streamer.typed.typed_record`)."""
    from streamer.typed import typed_record

    return typed_record(record)
