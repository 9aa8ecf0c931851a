"""Singer streams from schemas: the SCHEMA each stream announces and the RECORD bodies.

A stream starts from its registered schema (or an empty one for ``urls``
without ``schema=``) and is widened by every record's fields
(:class:`InferredSchema`), so a target creates a column for a field the
schema did not know instead of dropping it; a widened SCHEMA is sent again
before the batch that needed it, as Singer allows.

Records keep their line as read when it is JSON.  Records that arrive as
text (CSV: LogiSense, Rebilly's csv exports) are converted per their
schema first — integers, exact decimals (written as JSON numbers),
timestamps, booleans, empty → null — because a target validates RECORDs
against the SCHEMA; a value that does not fit is a located error.
Columns the schema does not declare are kept as text.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import msgspec
import orjson

from streamer.records import Record
from streamer.schemas.base import EntitySchema
from streamer.schemas.convert import to_typed
from streamer.schemas.jsonschema import InferredSchema
from streamer.schemas.registry import record_schema

_ENCODER = msgspec.json.Encoder(decimal_format="number")
_BUILTIN = (Decimal, datetime, date)
"""Kept as objects by ``to_builtins``: the encoder writes them (decimals as JSON numbers)."""


def stream_json_schema(schema: EntitySchema | None) -> dict[str, Any]:
    """The top-level Singer schema of a stream: an object with ``properties``."""
    if schema is None:
        return {"type": "object", "properties": {}, "additionalProperties": True}
    return {**schema.json_schema(), "type": "object"}


class SingerStream:
    """One Singer stream's schema as announced so far, and its records' bodies."""

    def __init__(self, name: str, schema: EntitySchema | None, key_candidates: list[str]) -> None:
        self.name = name
        self.schema = schema
        self._inferred = InferredSchema(stream_json_schema(schema))
        self._keys = list(schema.key_properties) if schema and schema.key_properties else key_candidates
        self._announced: list[str] | None = None

    def bodies(self, records: list[Record]) -> tuple[bytes | None, list[bytes]]:
        """The SCHEMA message this batch needs first (``None`` if the last one still fits), and the RECORD bodies."""
        bodies = []
        grew = False
        for record in records:
            body, data = self._body(record)
            grew = self._inferred.observe(data) or grew
            bodies.append(body)
        message = None
        if self._announced is None or grew:
            if self._announced is None:
                first = records[0].decoded() if records else {}
                self._announced = [k for k in self._keys if isinstance(first, dict) and k in first]
            message = self._schema_message()
        return message, bodies

    def _body(self, record: Record) -> tuple[bytes, Any]:
        if self.schema is None or record.raw is not None:
            return record.to_json(), record.decoded()
        data = record.decoded()
        typed = msgspec.to_builtins(to_typed(record, self.schema), builtin_types=_BUILTIN)
        if not isinstance(data, dict):
            return _ENCODER.encode(typed), typed
        # Fields the Struct left out (omitted defaults) were empty or null: null, not their text.
        merged = {**data, **{name: None for name in self.schema.field_names() if name in data}, **typed}
        return _ENCODER.encode(merged), merged

    def _schema_message(self) -> bytes:
        message: dict[str, Any] = {
            "type": "SCHEMA",
            "stream": self.name,
            "schema": self._inferred.schema,
            "key_properties": self._announced or [],
        }
        if self.schema is not None and self.schema.replication_key:
            message["bookmark_properties"] = [self.schema.replication_key]
        return orjson.dumps(message)


def stream_for(record: Record, key_candidates: list[str]) -> SingerStream:
    info = record.part
    schema = record_schema(record)
    name = info.entity_type or (schema.entity if info.schema and schema else None) or info.source
    return SingerStream(name, schema, key_candidates)

