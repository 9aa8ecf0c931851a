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
_DECODERS: dict[type[msgspec.Struct], msgspec.json.Decoder[Any]] = {}


def register_entity(source: str, entity_type: str, struct: type[msgspec.Struct]) -> None:
    _TYPES[(source, entity_type)] = struct


def _decoder(struct: type[msgspec.Struct]) -> msgspec.json.Decoder[Any]:
    decoder = _DECODERS.get(struct)
    if decoder is None:
        decoder = _DECODERS[struct] = msgspec.json.Decoder(struct, strict=False)
    return decoder


def entity_struct(source: str, entity_type: str | None) -> type[msgspec.Struct] | None:
    if entity_type is None:
        return None
    return _TYPES.get((source, entity_type))


def to_typed(record: Any) -> Any:
    """Convert ``record.data`` to its registered Struct; raise a located error if it does not fit."""
    struct = entity_struct(record.part.source, record.part.entity_type)
    if struct is None:
        raise LookupError(
            f"no typed entity registered for {record.part.source}/{record.part.entity_type}"
        )
    try:
        if record.value is None and record.raw is not None:
            return _decoder(struct).decode(record.raw)
        return msgspec.convert(record.value, struct, strict=False)
    except msgspec.ValidationError as exc:
        raise record.error(f"{record.part.entity_type} does not match its schema: {exc}") from exc
