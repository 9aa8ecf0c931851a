"""Records → typed Structs, for JSON and for CSV's strings, with located errors.

JSON lines are decoded straight into the Struct (one cached decoder per
Struct, no dict on the way).  ``strict=False`` lets msgspec read the text
that CSV gives every value: ``"42"`` → int, ``"12.50"`` → Decimal/float,
``"true"``/``"false"`` → bool, ISO text → date/datetime.  An empty string in
a field that is not text means "no value" (CSV has no null) and becomes
``None``, and object or list fields given as JSON text are decoded.  A value that still does not fit is reported with its place:
part, line, byte offset, column and value.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import orjson

from streamer.schemas.base import EntitySchema

_DECODERS: dict[type[msgspec.Struct], msgspec.json.Decoder[Any]] = {}
_TEXT_FIELDS: dict[type[msgspec.Struct], frozenset[str]] = {}
_JSON_FIELDS: dict[type[msgspec.Struct], frozenset[str]] = {}
_PATH = re.compile(r"at `\$\.([^`.\[]+)")


def decoder_for(struct: type[msgspec.Struct]) -> msgspec.json.Decoder[Any]:
    decoder = _DECODERS.get(struct)
    if decoder is None:
        decoder = _DECODERS[struct] = msgspec.json.Decoder(struct, strict=False)
    return decoder


def _text_fields(struct: type[msgspec.Struct]) -> frozenset[str]:
    """Wire names of the fields where ``""`` is a value, not a missing one."""
    names = _TEXT_FIELDS.get(struct)
    if names is None:
        info = msgspec.inspect.type_info(struct)
        names = frozenset(
            f.encode_name for f in info.fields  # type: ignore[attr-defined]
            if _is_text(f.type)
        )
        _TEXT_FIELDS[struct] = names
    return names


def _is_text(t: msgspec.inspect.Type) -> bool:
    if isinstance(t, msgspec.inspect.UnionType):
        return any(_is_text(b) for b in t.types)
    return isinstance(t, (msgspec.inspect.StrType, msgspec.inspect.AnyType))


def _json_fields(struct: type[msgspec.Struct]) -> frozenset[str]:
    """Wire names of the object and list fields, which CSV writes as JSON text."""
    names = _JSON_FIELDS.get(struct)
    if names is None:
        info = msgspec.inspect.type_info(struct)
        names = frozenset(f.encode_name for f in info.fields if _is_json(f.type))  # type: ignore[attr-defined]
        _JSON_FIELDS[struct] = names
    return names


def _is_json(t: msgspec.inspect.Type) -> bool:
    if isinstance(t, msgspec.inspect.UnionType):
        return any(_is_json(b) for b in t.types)
    return isinstance(t, (msgspec.inspect.DictType, msgspec.inspect.ListType, msgspec.inspect.StructType))


def text_to_values(struct: type[msgspec.Struct], data: dict[str, Any]) -> dict[str, Any]:
    """CSV text made fit for conversion: ``""`` → ``None`` in every non-text field, and
    the JSON text of object and list fields (Rebilly's csv exports) decoded."""
    text, nested = _text_fields(struct), _json_fields(struct)
    out = {}
    for k, v in data.items():
        if v == "" and k not in text:
            v = None
        elif k in nested and isinstance(v, str) and v[:1] in ("{", "["):
            try:
                v = orjson.loads(v)
            except orjson.JSONDecodeError:
                pass  # left as text: the conversion below reports it with its column
        out[k] = v
    return out


def to_typed(record: Any, schema: EntitySchema | type[msgspec.Struct]) -> Any:
    """``record`` as ``schema``'s Struct (or as a Struct given itself); a located
    :class:`DecodeError` if a value does not fit."""
    struct = schema if isinstance(schema, type) else schema.struct
    entity = record.part.entity_type or (struct.__name__ if isinstance(schema, type) else schema.entity)
    try:
        if record.value is None and record.raw is not None:
            return decoder_for(struct).decode(record.raw)
    except msgspec.ValidationError:
        pass  # decoded below, so the error names the column and its value
    data = record.decoded()
    try:
        if isinstance(data, dict):
            data = text_to_values(struct, data)
        return msgspec.convert(data, struct, strict=False)
    except msgspec.ValidationError as exc:
        raise record.error(_reason(entity, data, exc)) from None


def _reason(entity: str, data: Any, exc: msgspec.ValidationError) -> str:
    match = _PATH.search(str(exc))
    if match and isinstance(data, dict) and match.group(1) in data:
        column = match.group(1)
        return f"{entity} does not match its schema: column {column!r} value {data[column]!r} ({exc})"
    return f"{entity} does not match its schema: {exc}"
