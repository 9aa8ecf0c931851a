"""The JSON Schema of a msgspec Struct, with the formats typed tables need.

msgspec 0.23 writes ``datetime``, ``date`` and ``UUID`` fields as a plain
``{"type": "string"}``; a table made from that would keep timestamps as
text.  This adds ``format: date-time`` / ``date`` / ``uuid`` from the
Struct's own field types (``msgspec.inspect``), so the Mews Structs give
``timestamptz`` columns.  The schema registry can use it for every Struct.
"""

from __future__ import annotations

from typing import Any

import msgspec
import msgspec.inspect as mi

_FORMATS = {mi.DateTimeType: "date-time", mi.DateType: "date", mi.UUIDType: "uuid"}


def _format_of(info: mi.Type) -> str | None:
    if isinstance(info, mi.UnionType):
        formats = {_format_of(t) for t in info.types if not isinstance(t, mi.NoneType)}
        return formats.pop() if len(formats) == 1 else None
    return next((f for t, f in _FORMATS.items() if isinstance(info, t)), None)


def _annotate(node: Any, fmt: str) -> None:
    for branch in node.get("anyOf", [node]):
        if branch.get("type") == "string":
            branch["format"] = fmt


def struct_json_schema(struct: type[msgspec.Struct]) -> dict[str, Any]:
    """``msgspec.json.schema(struct)`` with string formats filled in for every Struct it reaches."""
    schema = msgspec.json.schema(struct)
    defs = schema.get("$defs", {})
    seen: set[type] = set()

    def visit(info: mi.Type) -> None:
        if isinstance(info, mi.UnionType):
            for t in info.types:
                visit(t)
        elif isinstance(info, (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)):
            visit(info.item_type)
        elif isinstance(info, mi.StructType) and info.cls not in seen:
            seen.add(info.cls)
            node = defs.get(info.cls.__name__)
            for f in info.fields:
                fmt = _format_of(f.type)
                if node is not None and fmt is not None and f.encode_name in node.get("properties", {}):
                    _annotate(node["properties"][f.encode_name], fmt)
                visit(f.type)

    visit(mi.type_info(struct))
    return schema
