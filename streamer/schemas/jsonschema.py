"""Struct → Singer JSON Schema, and schemas inferred from records and widened.

Singer SDK targets (MeltanoLabs target-postgres among them) need
``properties`` on every stream, a ``type`` on every property, and
``format: date-time`` to make a timestamp column; they reject a bare open
object.  So every property here is nullable (an export may leave any field
out), nested Structs become objects with their own ``properties``, and
``additionalProperties`` stays open: exports gain fields, and a field the
schema does not know is passed on, never dropped.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import msgspec
from msgspec import inspect as mi

ANY_JSON: tuple[str, ...] = ("string", "number", "integer", "boolean", "object", "array", "null")
"""The type list of a property that may hold anything (``Any`` in a Struct)."""


def struct_json_schema(struct: type[msgspec.Struct]) -> dict[str, Any]:
    """A Struct's JSON Schema in the form Singer targets accept."""
    info = mi.type_info(struct)
    assert isinstance(info, mi.StructType)
    return _object(info)


def _object(info: mi.StructType) -> dict[str, Any]:
    properties = {f.encode_name: _property(f.type) for f in info.fields}
    return {"type": ["object", "null"], "properties": properties, "additionalProperties": True}


def _property(t: mi.Type) -> dict[str, Any]:
    if isinstance(t, mi.UnionType):
        branches = [_property(b) for b in t.types if not isinstance(b, mi.NoneType)]
        if len(branches) == 1:
            return _nullable(branches[0])
        return {"type": list(ANY_JSON)}
    if isinstance(t, mi.StructType):
        return _object(t)
    if isinstance(t, mi.DateTimeType):
        return {"type": ["string", "null"], "format": "date-time"}
    if isinstance(t, mi.DateType):
        return {"type": ["string", "null"], "format": "date"}
    if isinstance(t, (mi.StrType, mi.UUIDType)):
        return {"type": ["string", "null"]}
    if isinstance(t, mi.BoolType):
        return {"type": ["boolean", "null"]}
    if isinstance(t, mi.IntType):
        return {"type": ["integer", "null"]}
    if isinstance(t, mi.DecimalType):  # exact money (LogiSense's CSV): a decimal column, a number to Singer
        return {"type": ["number", "null"], "format": "decimal"}
    if isinstance(t, mi.FloatType):
        return {"type": ["number", "null"]}
    if isinstance(t, (mi.ListType, mi.TupleType, mi.VarTupleType, mi.SetType, mi.FrozenSetType)):
        item = getattr(t, "item_type", None)
        schema: dict[str, Any] = {"type": ["array", "null"]}
        if item is not None and not isinstance(item, mi.AnyType):
            schema["items"] = _property(item)
        return schema
    if isinstance(t, mi.DictType):
        return {"type": ["object", "null"], "additionalProperties": True}
    return {"type": list(ANY_JSON)}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    types = schema["type"]
    if "null" not in types:
        schema = {**schema, "type": [*types, "null"]}
    return schema


# ------------------------------------------------------------------ inference

_PY_TYPES: dict[type, str] = {str: "string", bool: "boolean", int: "integer", float: "number",
                              dict: "object", list: "array", type(None): "null",
                              Decimal: "number", datetime: "string", date: "string"}
"""JSON type of each value a record may hold: decoded JSON, or CSV text typed by its schema."""


def value_type(value: Any) -> str:
    """The JSON type name of a decoded JSON value."""
    return _PY_TYPES.get(type(value), "string")


class InferredSchema:
    """A stream's schema learned from its records, widened as new fields or types arrive.

    Starts from a declared schema (or none) and only ever grows: a new field
    is added; a type seen for the first time widens the property
    (``integer`` + ``number`` → ``number``; anything else → both listed).
    A new text field whose value is an RFC 3339 timestamp is a ``date-time``
    (so a target makes a timestamp column); the first value of it that is
    not drops the format again.
    :meth:`observe` says whether the schema changed, so a Singer sink can
    re-emit it before the record that needed it.
    """

    def __init__(self, base: dict[str, Any] | None = None) -> None:
        base = base or {"type": ["object", "null"], "properties": {}, "additionalProperties": True}
        self._schema = {**base, "properties": dict(base.get("properties", {}))}
        self._properties: dict[str, Any] = self._schema["properties"]
        self._shapes: set[tuple[tuple[str, ...], tuple[type, ...]]] = set()
        self._timestamps: set[str] = set()
        """Fields whose ``date-time`` this schema inferred from text (declared ones are trusted)."""

    @property
    def schema(self) -> dict[str, Any]:
        return self._schema

    def observe(self, data: Any) -> bool:
        """Fold one record's fields in; ``True`` if the schema grew.

        Records mostly repeat a few shapes (field names and value types):
        a shape seen before cannot widen anything, so it costs two tuples
        and a set lookup; only the text of ``date-time`` formats this schema
        inferred (not declared ones) is still checked on every record.
        """
        if not isinstance(data, dict):
            return False
        shape = (tuple(data), tuple(map(type, data.values())))
        if shape in self._shapes:
            return self._check_inferred_timestamps(data)
        if len(self._shapes) >= _MAX_SHAPES:
            self._shapes.clear()
        self._shapes.add(shape)
        changed = False
        properties = self._properties
        for name, value in data.items():
            seen = value_type(value)
            known = properties.get(name)
            if known is None:
                properties[name] = _fresh(seen, value)
                if "format" in properties[name]:
                    self._timestamps.add(name)
                changed = True
            elif seen not in known.get("type", ()) and not _fits(seen, known):
                properties[name] = _widen(known, seen)
                self._timestamps.discard(name)
                changed = True
        return self._check_inferred_timestamps(data) or changed

    def _check_inferred_timestamps(self, data: dict[str, Any]) -> bool:
        """Drop an inferred ``date-time`` whose text in this record is no timestamp."""
        changed = False
        for name in self._timestamps:
            value = data.get(name)
            if isinstance(value, str) and not _is_timestamp(value):
                known = self._properties[name]
                self._properties[name] = {k: v for k, v in known.items() if k != "format"}
                changed = True
        if changed:
            self._timestamps = {n for n in self._timestamps if "format" in self._properties[n]}
        return changed


_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)\Z")


def _is_timestamp(value: Any) -> bool:
    """An RFC 3339 timestamp with its offset: the text a ``date-time`` column takes."""
    if isinstance(value, datetime):
        return True
    return isinstance(value, str) and _TIMESTAMP.match(value) is not None


_MAX_SHAPES = 4096
"""Shapes remembered per stream before starting over (records with many optional fields)."""


def _fresh(seen: str, value: Any) -> dict[str, Any]:
    if seen == "null":
        return {"type": ["string", "null"]}  # a type a later value may widen
    if _is_timestamp(value):
        return {"type": ["string", "null"], "format": "date-time"}
    return {"type": [seen, "null"]}


def _fits(seen: str, known: dict[str, Any]) -> bool:
    types = known.get("type", ())
    return seen == "integer" and "number" in types


def _widen(known: dict[str, Any], seen: str) -> dict[str, Any]:
    types = [t for t in known.get("type", ()) if t != "null"]
    if types == ["integer"] and seen == "number":
        return {**known, "type": ["number", "null"]}
    widened = {k: v for k, v in known.items() if k not in ("format", "properties", "items")}
    widened["type"] = [*types, seen, "null"] if seen != "null" else [*types, "null"]
    return widened
