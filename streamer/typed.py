"""Typed records and batches: raw lines decoded straight into msgspec Structs.

Which Struct a part's records are typed with is asked of one seam,
:func:`struct_for`; today it answers from the entities the providers
register (:mod:`streamer.entities`, the Mews Structs), and the schema
registry plugs in behind the same signature.  A consumer may also name the
Struct itself (``typed=OrderItem``), which is how a ``urls`` export of Mews
files gets typed.

A batch is typed in one msgspec call: its validated raw lines are joined
with ``b"\\n"`` and handed to ``Decoder(Struct).decode_lines`` — measured a
little faster than a cached decoder called per line (benchmarks/typed.py,
docs/typed-records.md), and no dict is built on the way.  msgspec's error
does not say which line failed, so on failure the batch is decoded again
line by line to name the record (part, line, byte offset): the rare bad
batch pays, the good ones do not.  Unknown fields are ignored by the Struct
and stay in ``record.data``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import msgspec

from streamer.entities import entity_struct

if TYPE_CHECKING:
    from streamer.records import Batch, PartInfo, Record

StructType: TypeAlias = "type[msgspec.Struct]"
Typed: TypeAlias = "bool | type[msgspec.Struct]"
"""What a consumer asks for: ``True`` (each part's own Struct, :func:`struct_for`) or a Struct for every part."""

_DECODERS: dict[type, msgspec.json.Decoder[Any]] = {}


def struct_for(info: PartInfo) -> type[msgspec.Struct] | None:
    """The Struct that ``info``'s records are typed with, or ``None`` if none is known.

    The one place that answers it: ``record.typed()``, ``batch.typed()`` and
    the typed streams all ask here, so the schema registry replaces only this.
    """
    return entity_struct(info.source, info.entity_type)


def decoder_for(struct: type) -> msgspec.json.Decoder[Any]:
    """One lax decoder per Struct, built once (``strict=False``: ``"12"`` fits an ``int``, as JSON exporters write it)."""
    decoder = _DECODERS.get(struct)
    if decoder is None:
        decoder = _DECODERS[struct] = msgspec.json.Decoder(struct, strict=False)
    return decoder


def resolve_struct(info: PartInfo, typed: Typed = True) -> type[msgspec.Struct]:
    """The Struct to use for ``info`` under ``typed``; ``LookupError`` naming the part if there is none."""
    if isinstance(typed, type):
        return typed
    struct = struct_for(info)
    if struct is None:
        entity = f"{info.source}/{info.entity_type or '-'}"
        raise LookupError(f"no typed entity registered for {entity} ({info.describe()}): pass typed=<a msgspec Struct>")
    return struct


def typed_record(record: Record, struct: type[msgspec.Struct] | None = None) -> Any:
    """``record`` as ``struct`` (default: its part's); a located :class:`DecodeError` if it does not fit."""
    struct = struct or resolve_struct(record.part)
    try:
        if record.value is None and record.raw is not None:
            return decoder_for(struct).decode(record.raw)
        return msgspec.convert(record.value, struct, strict=False)  # CSV rows, or data a consumer edited
    except msgspec.ValidationError as exc:
        raise record.error(f"{struct.__name__} does not match its schema: {exc}", snippet=record.raw or b"") from None


def typed_records(records: Sequence[Record], struct: type[msgspec.Struct]) -> list[Any]:
    """Every record as ``struct``, in order: one ``decode_lines`` call when all are undecoded lines."""
    if not records:
        return []
    lines: list[bytes] = []
    for record in records:
        raw = record.raw
        if raw is None or record.value is not None:
            return [typed_record(r, struct) for r in records]  # mixed batch: per record, each its own way
        lines.append(raw)
    try:
        return decoder_for(struct).decode_lines(b"\n".join(lines))
    except msgspec.ValidationError as exc:
        for record in records:  # find the culprit and name it: raises at the first that does not fit
            typed_record(record, struct)
        first = records[0]  # every line fits alone: say so, with the batch's place, rather than guess
        raise first.error(f"{struct.__name__}: the batch from here does not decode ({exc})") from None


def typed_batch(batch: Batch, typed: Typed = True) -> list[Any]:
    """``batch`` as Structs under ``typed`` (what ``stream(..., typed=)`` and ``CallbackSink(typed=)`` deliver)."""
    return typed_records(batch.records, resolve_struct(batch.part, typed))
