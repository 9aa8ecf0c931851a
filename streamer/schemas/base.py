"""One entity's schema: its Struct, its keys, and the forms other code needs.

The Struct is the single declaration; the Singer JSON Schema is derived
from it (:mod:`streamer.schemas.jsonschema`), so the two cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec


@dataclass(frozen=True)
class EntitySchema:
    """What streamer knows about one ``(vendor, entity)``'s records.

    ``key_properties`` and ``replication_key`` use the wire names (``Id``,
    ``UpdatedUtc``), as records and Singer targets spell them.
    """

    vendor: str
    entity: str
    struct: type[msgspec.Struct]
    key_properties: tuple[str, ...] = ()
    replication_key: str | None = None
    _json: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def ref(self) -> str:
        """``vendor:Entity``, the name ``--schema`` takes."""
        return f"{self.vendor}:{self.entity}"

    def json_schema(self) -> dict[str, Any]:
        """The entity as a Singer-ready JSON Schema (``properties``, nullable types, ``date-time``)."""
        if not self._json:
            from streamer.schemas.jsonschema import struct_json_schema

            self._json.update(struct_json_schema(self.struct))
        return self._json

    def field_names(self) -> tuple[str, ...]:
        """Wire names of the top-level fields, in declaration order."""
        return tuple(f.encode_name for f in msgspec.structs.fields(self.struct))
