"""Typed views of records: the older, Struct-only face of :mod:`streamer.schemas`.

Typing is opt-in and off the hot path: ``record.typed()`` decodes the
record's line straight into its Struct when a consumer asks.  Unknown
fields are ignored by the Struct but stay in ``record.data``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from streamer.schemas import registry
from streamer.schemas.base import EntitySchema
from streamer.schemas.convert import to_typed as _convert
from streamer.schemas.registry import record_schema


def register_entity(source: str, entity_type: str, struct: type[msgspec.Struct]) -> None:
    """Register ``struct`` as ``source``'s ``entity_type`` (keyed by ``Id`` when it has one)."""
    names = {f.encode_name for f in msgspec.structs.fields(struct)}
    registry.register(EntitySchema(source, entity_type, struct, key_properties=tuple(k for k in ("Id", "id") if k in names)))


def entity_struct(source: str, entity_type: str | None) -> type[msgspec.Struct] | None:
    schema = registry.lookup(source, entity_type)
    return schema.struct if schema is not None else None


def to_typed(record: Any) -> Any:
    """Convert a record to its registered Struct; raise a located error if it does not fit."""
    schema = record_schema(record)
    if schema is None:
        raise LookupError(f"no typed entity registered for {record.part.source}/{record.part.entity_type}")
    return _convert(record, schema)
