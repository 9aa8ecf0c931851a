"""A batch's raw JSON lines decoded straight into column values, by msgspec Structs made from the table.

The profile of the typed sinks put half their time in one Python step:
``orjson.loads`` of every line into dicts, then a walk over each dict
writing values into column lists.  When a table's schema is known, the row
it expects is a tree of Structs (one per flattened object, JSON columns as
:class:`msgspec.Raw`, the source's own text); msgspec decodes the whole batch
into it in one C call, roughly twice the speed of ``orjson.loads`` alone, and
the columns are then read by transposing each level's ``astuple`` rows.

This is only a shortcut for the common case.  ``forbid_unknown_fields`` and
the leaf types make msgspec refuse a batch with a field the table has no
column for or a value of another JSON type (``"42"`` for a bigint, an object
where text was); :meth:`RowDecoder.decode` then returns ``None`` and the batch
takes the general path (:mod:`streamer.tables.batch`), which evolves,
refuses or discards per the contract and names the record.  Both paths feed
the same column checks and Arrow builders, so a batch gets the same table
either way; the one visible difference is that a JSON column keeps the
source's text (``[ 1, 2 ]``, big integers exactly) where the general path
writes orjson's re-serialization (``[1,2]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import msgspec
from msgspec.structs import astuple

from streamer.records import Record
from streamer.tables.columns import Kind, Path, TableSchema

_LEAF: dict[Kind, Any] = {
    "boolean": Optional[bool],
    "bigint": Optional[int],
    "double": Optional[float],  # msgspec turns a JSON integer into a float here, as the general path does
    "decimal": Optional[int | float | str],
    "timestamp": Optional[str],  # Arrow parses timestamps, dates and decimals from text, as on the general path
    "date": Optional[str],
    "uuid": Optional[str],
    "text": Optional[str],
    "json": msgspec.Raw,
}
_KEY = Optional[str | int | float | bool]
_SHALLOW_JSON = Optional[list | str | int | float | bool]
"""A JSON column at a depth where the general path flattens objects: an object must go there (its
fields become columns); anything else is decoded to the same Python values the general path has."""
_NULL = msgspec.Raw(b"null")


class _Level:
    """One object level of the row: its Struct, and what each of its fields becomes.

    ``leaves``: (field index, column path, is JSON); ``children``: (field index, the child level)
    for a flattened object.  ``empty`` is the Struct with every field null, standing in for a null
    object so that its children's columns get nulls."""

    __slots__ = ("struct", "leaves", "children", "empty")

    def __init__(self, node: dict[str, Any], kinds: dict[Path, Kind], shallow: set[Path], keys: tuple[str, ...] = ()) -> None:
        fields: list[tuple[str, Any, Any]] = [(f"k{i}", _KEY, None) for i in range(len(keys))]
        rename = {f"k{i}": key for i, key in enumerate(keys)}
        self.leaves: list[tuple[int, Path, bool]] = []
        self.children: list[tuple[int, _Level]] = []
        for key, entry in node.items():
            attr = f"f{len(fields)}"
            rename[attr] = key
            if entry is None:  # a field seen only as null: accepted while it stays null
                fields.append((attr, None, None))
            elif isinstance(entry, dict):
                child = _Level(entry, kinds, shallow)
                self.children.append((len(fields), child))
                fields.append((attr, Optional[child.struct], None))
            elif entry in shallow:  # a JSON column where an object would be flattened: any value but an object
                self.leaves.append((len(fields), entry, False))
                fields.append((attr, _SHALLOW_JSON, None))
            else:
                kind = kinds[entry]
                self.leaves.append((len(fields), entry, kind == "json"))
                fields.append((attr, _LEAF[kind], _NULL if kind == "json" else None))
        self.struct = msgspec.defstruct("Row", fields, rename=rename, forbid_unknown_fields=True, gc=False)
        self.empty = self.struct()

    def take(self, objects: Sequence[Any], values: dict[Path, list[Any]]) -> bool:
        """Each column of this level (and below) from ``objects``; ``False`` if a JSON column holds a string."""
        fields = list(zip(*map(astuple, objects), strict=True)) if objects else [()] * len(self.struct.__struct_fields__)
        for i, path, is_json in self.leaves:
            column = list(fields[i])
            if is_json and (column := _json_texts(column)) is None:
                return False
            values[path] = column
        for i, child in self.children:
            nested = fields[i]
            if None in nested:
                empty = child.empty
                nested = [empty if o is None else o for o in nested]
            if not child.take(nested, values):
                return False
        return True


class RowDecoder:
    """Decodes batches of one table schema (one decoder per version of the schema)."""

    def __init__(self, schema: TableSchema) -> None:
        kinds = {path: column.kind for path, column in schema.columns.items()}
        self._usable = not any(len(path) == 1 and path[0] in schema.key_fields for path in kinds)
        """A column named like a key field (a hand-made schema) is left to the general path."""
        tree: dict[str, Any] = {}
        for path in kinds:
            node = tree
            for name in path[:-1]:
                node = node.setdefault(name, {})
        self._empty: list[Path] = []
        """Columns at a key that holds an object: the object is flattened, so the column stays null."""
        for path in kinds:
            node = tree
            for name in path[:-1]:
                node = node[name]
            if isinstance(node.get(path[-1]), dict):
                self._empty.append(path)
            else:
                node[path[-1]] = path
        for path in schema.nulls:
            node = tree
            for name in path[:-1]:
                node = node.setdefault(name, {})
                if not isinstance(node, dict):
                    break  # under a column: that column's value is not an object
            else:
                node.setdefault(path[-1], None)
        self._keys = len(schema.key_fields)
        shallow = {p for p, k in kinds.items() if k == "json" and len(p) <= schema.max_nesting}
        self._root = _Level(tree, kinds, shallow, schema.key_fields)
        self._decoder = msgspec.json.Decoder(list[self._root.struct])  # type: ignore[name-defined]

    def decode(self, records: Sequence[Record]) -> tuple[list[Any], dict[Path, list[Any]]] | None:
        """(each record's key value or ``None``, the values of every column) — or ``None`` when a line has
        a field or a value type the schema has no column for, so the general path must decide."""
        if not self._usable:
            return None
        raws = [r.raw for r in records]
        if None in raws:
            return None  # CSV or JSON array records: decoded dicts only
        try:
            rows = self._decoder.decode(b"[" + b",".join(raws) + b"]")  # type: ignore[arg-type]
        except msgspec.ValidationError:
            return None
        values: dict[Path, list[Any]] = {}
        if not self._root.take(rows, values):
            return None
        for path in self._empty:
            values[path] = [None] * len(rows)
        return _first_key(rows, self._keys), values


def _first_key(rows: list[Any], count: int) -> list[Any]:
    """Per row, the first of the key fields that is not null (``None`` when all are)."""
    keys: list[Any] = [None] * len(rows)
    for i in range(count):
        name = f"k{i}"
        keys = [k if k is not None else getattr(row, name) for k, row in zip(keys, rows, strict=True)]
        if None not in keys:
            break
    return keys


def _json_texts(raws: list[Any]) -> list[Any] | None:
    """A JSON column's values as ``bytes`` of their JSON text (``None`` for null), or ``None`` if one is
    a JSON string: the general path reads a string there as possibly CSV's JSON text."""
    out = [None if (b := bytes(r)) == b"null" else b for r in raws]
    if any(b[0] == 0x22 for b in out if b is not None):  # '"'
        return None
    return out


def _signature(schema: TableSchema) -> tuple[Any, ...]:
    """What a decoder depends on: the columns' paths and kinds, the null-only fields, the key fields, the nesting depth."""
    columns = tuple((p, c.kind) for p, c in schema.columns.items())
    return (schema.key_fields, schema.max_nesting, columns, frozenset(schema.nulls))


_DECODERS: dict[tuple[Any, ...], RowDecoder] = {}


def decoder_for(schema: TableSchema) -> RowDecoder:
    """The decoder of this version of ``schema``, made once (a few per table and run, as it evolves)."""
    signature = _signature(schema)
    decoder = _DECODERS.get(signature)
    if decoder is None:
        if len(_DECODERS) >= 64:
            _DECODERS.clear()
        decoder = _DECODERS[signature] = RowDecoder(schema)
    return decoder


__all__ = ["RowDecoder", "decoder_for"]
