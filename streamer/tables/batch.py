"""A batch of records as one typed Arrow table, under the table's contract.

Every loader shares this step: records are flattened (``parent__child`` down
to ``max_nesting``), deduplicated by key (the last version wins, as the
upsert would), checked against the column kinds, and built into columns.
Arrow does the heavy parsing in C (ISO timestamps, dates, decimals); Python
only checks each value's type once.  JSON lines that fit the table's fields
and JSON types skip the per-record walk: msgspec decodes the batch straight
into column values (:mod:`streamer.tables.structs`), and the same checks run
on them.  CSV's text (LogiSense, Rebilly's csv
exports) is converted per the column's kind on the slow path only, where a
column's values did not fit as they came (``"42"`` → 42, ``""`` → null,
``"true"`` → True, an object's JSON text flattened or kept as JSON), so
JSON exports pay only a type scan of each JSON column.  A value that does not fit its column,
or a field with no column, goes by the contract:

* ``evolve`` (default): a new column, or the column widened (int → double /
  decimal → text), recorded in :attr:`BatchTable.changes` so the loader
  alters the table in the batch's own transaction;
* ``freeze``: :class:`ContractError` naming the field and the record (part, line);
* ``discard``: the value kept, by field path, in the row's ``_extra`` JSON.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

import orjson
import pyarrow as pa

from streamer.errors import DecodeError
from streamer.records import Batch, Record
from streamer.tables.columns import (
    CONTRACTS,
    EXTRA_COLUMN,
    KEY_COLUMN,
    PROVENANCE,
    Column,
    Contract,
    Kind,
    Path,
    TableSchema,
    widen,
)
from streamer.tables.structs import decoder_for


class ContractError(DecodeError):
    """A record does not fit a frozen table: the field and the record (part, line) are named."""


ARROW_TYPES: dict[Kind, pa.DataType] = {
    "boolean": pa.bool_(),
    "bigint": pa.int64(),
    "double": pa.float64(),
    "decimal": pa.decimal128(38, 9),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
    "uuid": pa.string(),
    "text": pa.string(),
    "json": pa.string(),
}
"""How each kind travels in Arrow (and is written to Parquet); UUIDs as their text, JSON as its text."""

_INT64 = (-(1 << 63), (1 << 63) - 1)
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?")
_DATE = re.compile(r"\d{4}-\d\d-\d\d")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _is_timestamp(v: Any) -> bool:
    if type(v) is not str or not _TIMESTAMP.fullmatch(v):
        return False
    try:
        stamp = datetime.fromisoformat(v)
    except ValueError:
        return False
    return 1678 <= stamp.year <= 2261  # what Arrow's nanosecond parser holds


def _is_decimal(v: Any) -> bool:
    if type(v) in (int, float):
        return not math.isnan(v) and abs(v) < 1e29
    if type(v) is not str:
        return False
    try:
        d = Decimal(v)
    except InvalidOperation:
        return False
    return d.is_finite() and d.adjusted() < 29 and -d.as_tuple().exponent <= 9  # type: ignore[operator]


def _is_uuid(v: Any) -> bool:
    return type(v) is str and _UUID.fullmatch(v) is not None


def _arrow_parses(kind: Kind, v: Any) -> bool:
    """Whether Arrow builds the column from this one value (the slow path's last word on a misfit)."""
    try:
        _array(kind, [v])
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, ValueError):
        return False
    return True


FITS: dict[Kind, Callable[[Any], bool]] = {
    "boolean": lambda v: type(v) is bool,
    "bigint": lambda v: type(v) is int and _INT64[0] <= v <= _INT64[1],
    "double": lambda v: type(v) in (float, int),
    "decimal": lambda v: _is_decimal(v) and _arrow_parses("decimal", v),
    "timestamp": lambda v: _is_timestamp(v) and _arrow_parses("timestamp", v),
    "date": lambda v: type(v) is str and _DATE.fullmatch(v) is not None and _arrow_parses("date", v),
    "uuid": _is_uuid,
    "text": lambda v: True,
    "json": lambda v: True,
}


def kind_of_value(v: Any) -> Kind:
    """The kind inferred for one value (a table without a schema takes its columns from its data)."""
    t = type(v)
    if t is bool:
        return "boolean"
    if t is int:
        return "bigint" if _INT64[0] <= v <= _INT64[1] else "decimal" if _is_decimal(v) else "double"
    if t is float:
        return "double"
    if t is str:
        if _is_uuid(v):
            return "uuid"
        if _DATE.fullmatch(v):
            return "date"
        return "timestamp" if _is_timestamp(v) else "text"
    return "json"


@dataclass(slots=True)
class BatchTable:
    """One batch as Arrow columns in :meth:`TableSchema.names` order, and the schema changes it needs."""

    table: pa.Table
    added: list[Column] = field(default_factory=list)
    widened: list[Column] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.widened)


_Node = dict[str, list[Any]]
"""A trie over field paths: field → [its column's values or None, the trie of its fields or None]."""


def _trie(schema: TableSchema, values: dict[Path, list[Any]], skipped: list[Any]) -> _Node:
    root: _Node = {name: [skipped, None] for name in schema.key_fields}  # the key is the id column
    for path, column_values in values.items():
        _insert(root, path, column_values)
    return root


def _insert(root: _Node, path: Path, column_values: list[Any]) -> None:
    node = root
    for name in path[:-1]:
        entry = node.setdefault(name, [None, None])
        if entry[1] is None:
            entry[1] = {}
        node = entry[1]
    node.setdefault(path[-1], [None, None])[0] = column_values


def _fill(
    obj: dict[str, Any], node: _Node, prefix: Path, depth: int, max_nesting: int, i: int,
    unknown: Callable[[Path, int, Any], None],
) -> None:
    """Row ``i``'s values into their columns (a module function: a nested one would be a reference
    cycle holding every batch's decoded records until the cyclic GC runs)."""
    for k, v in obj.items():
        entry = node.get(k)
        if type(v) is dict and depth < max_nesting:
            if entry is None:
                entry = node[k] = [None, None]
            if entry[1] is None:
                entry[1] = {}
            _fill(v, entry[1], prefix + (k,), depth + 1, max_nesting, i, unknown)
        elif entry is not None and entry[0] is not None:
            entry[0][i] = v
        elif v is not None:  # no column is made for nulls alone
            if entry is not None and entry[1] is not None and type(v) is str:
                if v == "":
                    continue  # CSV's empty cell: no object
                nested = _json_text(v)  # CSV writes a flattened object as its JSON text
                if type(nested) is dict:
                    _fill(nested, entry[1], prefix + (k,), depth + 1, max_nesting, i, unknown)
                    continue
            unknown(prefix + (k,), i, v)
        else:
            unknown(prefix + (k,), i, None)  # recorded as a null-only field, no column


def _json_text(v: str) -> Any:
    """An object or a list written as JSON text (CSV's form of them) as the value it is; other text unchanged."""
    if v[:1] in ("{", "["):
        try:
            return orjson.loads(v)
        except orjson.JSONDecodeError:
            pass
    return v


def _true_false(v: str) -> bool | str:
    return _BOOLEAN_TEXT.get(v.strip().lower(), v)


_BOOLEAN_TEXT = {"true": True, "false": False, "1": True, "0": False, "t": True, "f": False, "yes": True, "no": False}


def _number_text(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(v: str) -> Any:
        try:
            return parse(v)  # int() and float() allow the spaces around a CSV cell
        except ValueError:
            return v  # left as text: the contract decides (widen, refuse with its place, or discard)

    return convert


_FROM_TEXT: dict[Kind, Callable[[str], Any]] = {
    "bigint": _number_text(int),
    "double": _number_text(float),
    "boolean": _true_false,
    "json": _json_text,
}
"""Text (CSV's only type) as the value its column holds; timestamps, dates and decimals Arrow parses from text itself.
A text that does not convert is returned as it came (the contract decides)."""


def _from_text(kind: Kind, values: list[Any]) -> list[Any] | None:
    """A non-text column's string values converted per its kind (``""`` → null, as CSV has no null),
    or ``None`` when the column holds no strings (nothing to convert)."""
    if kind == "text" or not any(type(v) is str for v in values):
        return None
    convert = _FROM_TEXT.get(kind)
    out: list[Any] = []
    for v in values:
        if type(v) is str:
            v = None if v == "" else convert(v) if convert is not None else v
        out.append(v)
    return out


def _describe(path: Path) -> str:
    return ".".join(path)


_NONE = type(None)
_RAW_JSON = frozenset({bytes, _NONE})
_TEXT = frozenset({str, _NONE})
_FAST_TYPES: dict[Kind, frozenset[type]] = {
    "boolean": frozenset({bool}),
    "bigint": frozenset({int}),
    "double": frozenset({int, float}),
    "decimal": frozenset({int, float, str}),
    "timestamp": frozenset({str}),
    "date": frozenset({str}),
    "uuid": frozenset({str}),
}


def _fast_array(kind: Kind, values: list[Any]) -> pa.Array | None:
    """The column when every value fits (checked by type in C, parsed by Arrow), else ``None``.

    A JSON column holding strings takes the slow path: CSV's JSON text and empty cells are converted there."""
    types = set(map(type, values))
    if kind == "text":
        return pa.array(values, pa.string()) if types <= _TEXT else _array(kind, values)
    if kind == "json":
        if str in types:
            return None
        if types <= _RAW_JSON:  # the Struct path's JSON text, as it came
            return pa.array(values, pa.binary()).cast(pa.string())
        return _array(kind, values)
    types.discard(_NONE)
    if not types <= _FAST_TYPES[kind]:
        return None
    if kind == "uuid" and not all(_UUID.fullmatch(v) for v in values if v is not None):
        return None
    try:
        return _array(kind, values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, ValueError):
        return None


def build_batch(batch: Batch, schema: TableSchema, contract: Contract, loaded_at: datetime, *, new_table: bool) -> BatchTable:
    """The batch's rows as Arrow columns; ``schema`` is changed in place when the contract evolves it.

    ``new_table``: the table has no rows yet and was given no schema, so its
    first batch makes its columns whatever the contract.  JSON lines that fit
    the schema's fields and JSON types are decoded straight into columns
    (:mod:`streamer.tables.structs`); any other batch is decoded record by
    record and written into column lists (no per-record flat dict).  Either
    way a column is checked value by value only when its values' types or
    Arrow's parse say something does not fit.
    """
    policy: Contract = "evolve" if new_table else contract
    result = BatchTable(pa.table({}))
    decoded = None if new_table or not schema.columns else decoder_for(schema).decode(batch.records)
    if decoded is not None:
        records, idents, values = _unique_rows(batch, *decoded)
        extras: list[dict[str, Any] | None] = [None] * len(records)
    else:
        records, idents, values, extras = _fill_rows(batch, schema, policy, result)
    n = len(records)

    def refuse(path: Path, i: int, why: str) -> None:
        record = records[i]
        raise ContractError(
            f"field {_describe(path)!r} {why} and the table's contract is freeze",
            part=record.part.describe(), line=record.line, offset=record.offset,
        )

    added = {c.name for c in result.added}
    arrays: list[pa.Array] = []
    for path, column in schema.columns.items():
        column_values = values[path]
        array = _fast_array(column.kind, column_values)
        if array is None and (converted := _from_text(column.kind, column_values)) is not None:
            column_values = converted
            array = _fast_array(column.kind, column_values)
        if array is None:
            fits = FITS[column.kind]
            misfits = [i for i, v in enumerate(column_values) if v is not None and not fits(v)]
            if policy == "evolve":
                kind = column.kind
                for i in misfits:
                    kind = widen(kind, kind_of_value(column_values[i]))
                if column.name not in added and kind != column.kind:
                    result.widened.append(column)
                column.kind = kind
            elif policy == "freeze" and misfits:
                refuse(path, misfits[0], f"holds {kind_of_value(column_values[misfits[0]])}, not {column.kind}")
            else:
                for i in misfits:
                    _keep_extra(extras, path, i, column_values[i])
                    column_values[i] = None
            array = _array(column.kind, column_values)
        arrays.append(array)

    provenance = [
        pa.array(idents, pa.string()),
        pa.array([batch.part.key] * n, pa.string()),
        pa.array([r.line for r in records], pa.int64()),
        pa.array([loaded_at] * n, ARROW_TYPES["timestamp"]),
    ]
    extra_array = pa.array([None if e is None else orjson.dumps(e).decode() for e in extras], pa.string())
    names = schema.names()
    result.table = pa.Table.from_arrays([*provenance, *arrays, extra_array], names=names)
    assert names[0] == KEY_COLUMN and names[-1] == EXTRA_COLUMN and len(PROVENANCE) == 3
    return result


def _ident(part_key: str, record: Record, key: Any) -> str:
    """The row's primary key: the key field as text (JSON for a non-string), or part#line without one."""
    return f"{part_key}#{record.line}" if key is None else key if type(key) is str else orjson.dumps(key).decode()


def _unique_rows(
    batch: Batch, keys: list[Any], values: dict[Path, list[Any]]
) -> tuple[list[Record], list[str], dict[Path, list[Any]]]:
    """The decoded rows with one row per key, the last version in the place of its last line (as the upsert keeps)."""
    records = batch.records
    if None not in keys and set(map(type, keys)) == {str}:
        idents: list[str] = keys
    else:
        part_key = batch.part.key
        idents = [_ident(part_key, r, k) for r, k in zip(records, keys, strict=True)]
    if len(set(idents)) == len(idents):
        return records, idents, values
    last = sorted({ident: i for i, ident in enumerate(idents)}.values())
    return [records[i] for i in last], [idents[i] for i in last], {p: [v[i] for i in last] for p, v in values.items()}


def _fill_rows(
    batch: Batch, schema: TableSchema, policy: Contract, result: BatchTable
) -> tuple[list[Record], list[str], dict[Path, list[Any]], list[dict[str, Any] | None]]:
    """Every record decoded and walked into column lists; a field with no column goes by the contract."""
    part_key = batch.part.key
    key_fields = schema.key_fields
    max_nesting = schema.max_nesting
    by_key: dict[str, tuple[Record, dict[str, Any]]] = {}
    for record in batch.records:
        data = record.decoded()
        if type(data) is not dict:
            raise ContractError(
                "is not a JSON object, a table row needs one",
                part=record.part.describe(), line=record.line, offset=record.offset,
            )
        key = None
        for name in key_fields:
            key = data.get(name)
            if key is not None:
                break
        ident = _ident(part_key, record, key)
        by_key.pop(ident, None)  # re-inserted at the end: rows keep file order of their last version
        by_key[ident] = (record, data)

    rows = list(by_key.values())
    n = len(rows)
    values: dict[Path, list[Any]] = {path: [None] * n for path in schema.columns}
    extras: list[dict[str, Any] | None] = [None] * n
    root = _trie(schema, values, [None] * n)

    def unknown(path: Path, i: int, v: Any) -> None:
        if v is None:
            schema.nulls.add(path)
        elif policy == "evolve":
            column = schema.add(path, kind_of_value(v))
            result.added.append(column)
            values[path] = column_values = [None] * n
            column_values[i] = v
            _insert(root, path, column_values)
        elif policy == "freeze":
            record = rows[i][0]
            raise ContractError(
                f"field {_describe(path)!r} is not a column of the table and the table's contract is freeze",
                part=record.part.describe(), line=record.line, offset=record.offset,
            )
        else:
            _keep_extra(extras, path, i, v)

    for i, (_, data) in enumerate(rows):
        _fill(data, root, (), 0, max_nesting, i, unknown)
    return [r for r, _ in rows], list(by_key), values, extras


def _keep_extra(extras: list[dict[str, Any] | None], path: Path, i: int, value: Any) -> None:
    """The ``discard`` contract: the value kept, by field path, in the row's ``_extra`` JSON."""
    extra = extras[i]
    if extra is None:
        extra = extras[i] = {}
    extra[_describe(path)] = value


_JSON_DUMPS = orjson.dumps


def _array(kind: Kind, values: list[Any]) -> pa.Array:
    """One column in Arrow; parsing (timestamps, dates, decimals) happens in Arrow's C++."""
    if kind == "json":
        return pa.array(
            [None if v is None else v.decode() if type(v) is bytes else _JSON_DUMPS(v).decode() for v in values],
            pa.string(),
        )
    if kind == "text":
        return pa.array(
            [v if v is None or type(v) is str else _JSON_DUMPS(v).decode() for v in values], pa.string()
        )
    if kind == "timestamp":
        # nanoseconds parse any fraction (Mews sends 7 digits); microseconds are what databases keep
        return pa.array(values, pa.string()).cast(pa.timestamp("ns", tz="UTC")).cast(ARROW_TYPES["timestamp"], safe=False)
    if kind == "date":
        return pa.array(values, pa.string()).cast(pa.date32())
    if kind == "decimal":
        return pa.array([v if v is None or type(v) is str else repr(v) for v in values], pa.string()).cast(
            ARROW_TYPES["decimal"]
        )
    if kind == "double":
        return pa.array([v if v is None or type(v) is float else float(v) for v in values], pa.float64())
    return pa.array(values, ARROW_TYPES[kind])


def utc_now() -> datetime:
    return datetime.now(UTC)


__all__ = ["ARROW_TYPES", "CONTRACTS", "UUID", "BatchTable", "Contract", "ContractError", "build_batch", "kind_of_value"]
