"""Typed records and batches: raw lines decoded straight into msgspec Structs.

Which Struct a part's records are typed with is asked of one seam,
:func:`struct_for`, which answers from the one schema registry
(:mod:`streamer.schemas`: every vendor's entities, and ``urls`` parts given
``schema="mews:OrderItem"``).  A consumer may also name the
Struct itself (``typed=OrderItem``), which is how a ``urls`` export of Mews
files gets typed.

A batch is typed straight from its validated raw lines, one cached
``Decoder(Struct)`` call per line, no dict on the way. Joining the lines
with ``b"\\n"`` for one ``decode_lines`` call was measured against it
(benchmarks/typed.py, docs/typed-records.md): close, two runs each way. Per
line wins on the rest: a failing line is named by itself (part, line, byte
offset) where ``decode_lines`` does not say which line failed, and the typed
stream can yield each Struct as it is decoded, so a consumer that drops it
frees it at once (building a thousand GC-tracked Structs per batch first
measured 0.97x the hand-written loop, yielding them one by one 1.17x).
Unknown fields are ignored by the Struct and stay in ``record.data``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import msgspec

from streamer.schemas.convert import decoder_for, to_typed
from streamer.schemas.registry import lookup, resolve

if TYPE_CHECKING:
    from streamer.records import Batch, PartInfo, Record

StructType: TypeAlias = "type[msgspec.Struct]"
Typed: TypeAlias = "bool | type[msgspec.Struct]"
"""What a consumer asks for: ``True`` (each part's own Struct, :func:`struct_for`) or a Struct for every part."""

def struct_for(info: PartInfo) -> type[msgspec.Struct] | None:
    """The Struct that ``info``'s records are typed with, or ``None`` if none is known.

    The one place that answers it: ``record.typed()``, ``batch.typed()`` and
    the typed streams all ask here, so the schema registry replaces only this.
    """
    schema = resolve(info.schema) if info.schema else lookup(info.source, info.entity_type)
    return None if schema is None else schema.struct


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
    """``record`` as ``struct`` (default: its part's); a located :class:`DecodeError` if it does not fit.

    CSV rows (text) are converted per the Struct: ``""`` → null, JSON text
    of object and list fields decoded (:func:`streamer.schemas.convert.to_typed`).
    """
    return to_typed(record, struct or resolve_struct(record.part))


def iter_typed(records: Iterable[Record], struct: type[msgspec.Struct]) -> Iterator[Any]:
    """Each record as ``struct``, in order, decoded when it is reached."""
    decode = decoder_for(struct).decode
    for record in records:
        raw = record.raw
        if raw is not None and record.value is None:
            try:
                yield decode(raw)
            except msgspec.ValidationError as exc:
                raise record.error(f"{struct.__name__} does not match its schema: {exc}", snippet=raw) from None
        else:
            yield typed_record(record, struct)  # CSV rows, or data a consumer decoded (and perhaps edited)


def typed_records(records: Sequence[Record], struct: type[msgspec.Struct]) -> list[Any]:
    """Every record as ``struct``, in order (:func:`iter_typed` as a list)."""
    return list(iter_typed(records, struct))


def typed_batch(batch: Batch, typed: Typed = True) -> list[Any]:
    """``batch`` as Structs under ``typed`` (what ``CallbackSink(typed=)`` delivers)."""
    return typed_records(batch.records, resolve_struct(batch.part, typed))


def iter_typed_batch(batch: Batch, typed: Typed = True) -> Iterator[Any]:
    """``batch`` as Structs under ``typed``, one at a time (what ``stream(..., typed=)`` yields)."""
    return iter_typed(batch.records, resolve_struct(batch.part, typed))
