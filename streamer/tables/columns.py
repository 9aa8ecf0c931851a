"""Columns of a typed table: what kinds of values exist, and how one widens into another.

A table is a function of a JSON Schema (the registry's and the inference's
common form): :meth:`TableSchema.from_json_schema` maps each property to a
column *kind* — a dialect-neutral type that every loader (SQLite, DuckDB,
PostgreSQL, Parquet) spells in its own SQL or Arrow.  Nested objects are
flattened into ``parent__child`` columns down to ``max_nesting`` levels
(dlt's convention); lists and deeper objects are JSON columns.

Money: a JSON ``number`` is a double (that is what every JSON parser, and the
vendor's own serializer, made of it); a schema that says ``format: decimal``
(or ``"type": "string", "format": "decimal"``, as CSV exports carry money)
gets an exact ``DECIMAL(38, 9)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from streamer.errors import ConfigError

Contract = Literal["evolve", "freeze", "discard"]
CONTRACTS: tuple[Contract, ...] = ("evolve", "freeze", "discard")

Kind = Literal["boolean", "bigint", "double", "decimal", "timestamp", "date", "uuid", "text", "json"]
KINDS: tuple[Kind, ...] = ("boolean", "bigint", "double", "decimal", "timestamp", "date", "uuid", "text", "json")

Path = tuple[str, ...]

KEY_PROPERTIES = "x-key-properties"
"""The JSON Schema keyword naming a table's key fields (the registry adds it; Singer carries keys in ``key_properties``)."""
DEFAULT_KEY_FIELDS = ("Id", "id")
KEY_COLUMN = "id"
"""The primary key every typed table has: the record's key field as text (or part#line when it has none)."""
PROVENANCE = (("_streamer_part", "text"), ("_streamer_line", "bigint"), ("_streamer_loaded_at", "timestamp"))
"""Where each row came from and when it was loaded (dlt keeps ``_dlt_load_id`` the same way)."""
EXTRA_COLUMN = "_extra"
"""Values the ``discard`` contract kept out of the typed columns, as one JSON object per row."""
RESERVED = {KEY_COLUMN, EXTRA_COLUMN, *(name for name, _ in PROVENANCE)}

_SAFE_WIDENING: dict[frozenset[str], Kind] = {
    frozenset({"bigint", "double"}): "double",
    frozenset({"bigint", "decimal"}): "decimal",
    frozenset({"double", "decimal"}): "double",
    frozenset({"date", "timestamp"}): "timestamp",
}


def widen(old: Kind, new: Kind) -> Kind:
    """The narrowest kind that holds values of both: int → double/decimal → text; JSON holds anything."""
    if old == new:
        return old
    if "json" in (old, new):
        return "json"
    return _SAFE_WIDENING.get(frozenset({old, new}), "text")


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_IDENT = re.compile(r"[^a-z0-9_]+")


def column_name(path: Path) -> str:
    """``("UnitAmount", "NetValue")`` → ``unit_amount__net_value`` (snake case, ``__`` between levels)."""
    parts = [_NOT_IDENT.sub("_", _CAMEL.sub("_", p).lower()).strip("_") or "field" for p in path]
    name = "__".join(parts)
    if name[0].isdigit():
        name = f"f_{name}"
    return name


@dataclass(slots=True)
class Column:
    name: str
    kind: Kind
    path: Path

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "path": list(self.path)}


@dataclass(slots=True)
class TableSchema:
    """The data columns of one table (key, provenance and ``_extra`` are implied), by record path."""

    columns: dict[Path, Column] = field(default_factory=dict)
    key_fields: tuple[str, ...] = DEFAULT_KEY_FIELDS
    """The record fields tried, in order, for the primary key."""
    max_nesting: int = 1
    nulls: set[Path] = field(default_factory=set)
    """Fields with no column seen only as null so far (no column is made for nulls alone).  Not
    stored with the table: it lets the Struct decoder (:mod:`streamer.tables.structs`) accept
    them, where an unknown field must send the batch to the general path."""

    # -- building

    @classmethod
    def from_json_schema(
        cls, schema: Mapping[str, Any] | None, *, key: str | Iterable[str] | None = None, max_nesting: int = 1
    ) -> TableSchema:
        """The table a JSON Schema describes (``None``: no columns yet, they come from the data).

        ``key``: the record fields tried for the primary key; by default the
        schema's own :data:`KEY_PROPERTIES` (the registry's ``key_properties``:
        LogiSense's ``rowId``), else ``Id`` or ``id``.
        """
        if max_nesting < 0:
            raise ConfigError(f"max_nesting must be 0 or more, not {max_nesting}")
        if key is None:
            key = (schema or {}).get(KEY_PROPERTIES) or DEFAULT_KEY_FIELDS
        table = cls(key_fields=(key,) if isinstance(key, str) else tuple(key), max_nesting=max_nesting)
        if schema is not None:
            root = _resolve(schema, schema)
            table._add_properties(schema, root, (), 0)
        return table

    def _add_properties(self, doc: Mapping[str, Any], node: Mapping[str, Any], prefix: Path, depth: int) -> None:
        for name, prop in (node.get("properties") or {}).items():
            path = prefix + (name,)
            if not prefix and name in self.key_fields:
                continue  # the key is the ``id`` column
            prop = _resolve(doc, prop)
            branches = [_resolve(doc, b) for b in _branches(doc, prop)]
            nested = branches[0] if len(branches) == 1 else None
            if nested is not None and nested.get("properties") and depth < self.max_nesting:
                self._add_properties(doc, nested, path, depth + 1)
            else:
                self.add(path, kind_of_schema(doc, prop))

    def add(self, path: Path, kind: Kind) -> Column:
        """A new column for ``path``, named uniquely (a clash or an over-long name gets a numbered suffix)."""
        base = column_name(path)[:60]
        taken = {c.name for c in self.columns.values()} | RESERVED
        name, n = base, 2
        while name in taken:
            name, n = f"{base[:57]}_{n}", n + 1
        column = self.columns[path] = Column(name, kind, path)
        return column

    # -- persistence (kept in ``_streamer_tables`` with the rows, so a resumed run knows the kinds)

    def to_json(self) -> dict[str, Any]:
        return {
            "key_fields": list(self.key_fields),
            "max_nesting": self.max_nesting,
            "columns": [c.to_json() for c in self.columns.values()],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TableSchema:
        table = cls(key_fields=tuple(data["key_fields"]), max_nesting=int(data["max_nesting"]))
        for c in data["columns"]:
            path = tuple(c["path"])
            table.columns[path] = Column(c["name"], c["kind"], path)
        return table

    def names(self) -> list[str]:
        """Every column in table order: key, provenance, data columns, ``_extra``."""
        return [KEY_COLUMN, *(n for n, _ in PROVENANCE), *(c.name for c in self.columns.values()), EXTRA_COLUMN]

    def kinds(self) -> list[tuple[str, Kind]]:
        return [
            (KEY_COLUMN, "text"),
            *PROVENANCE,  # type: ignore[list-item]
            *((c.name, c.kind) for c in self.columns.values()),
            (EXTRA_COLUMN, "json"),
        ]

    def kind_of(self, name: str) -> Kind | None:
        return next((k for n, k in self.kinds() if n == name), None)


def _resolve(doc: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow local ``$ref``s (``#/$defs/X``, ``#/definitions/X``), as msgspec and OpenAPI write them."""
    seen = 0
    while "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/") or seen > 32:
            raise ConfigError(f"JSON Schema $ref {ref!r} is not a local reference")
        target: Any = doc
        for part in ref[2:].split("/"):
            target = target[part]
        node, seen = target, seen + 1
    return node


def _branches(doc: Mapping[str, Any], node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The non-null alternatives of ``anyOf``/``oneOf``/type lists."""
    for combinator in ("anyOf", "oneOf"):
        if combinator in node:
            out = []
            for branch in node[combinator]:
                out.extend(_branches(doc, _resolve(doc, branch)))
            return out
    types = node.get("type")
    if isinstance(types, list):
        return [{**node, "type": t} for t in types if t != "null"]
    return [] if types == "null" else [node]


def kind_of_schema(doc: Mapping[str, Any], node: Mapping[str, Any]) -> Kind:
    """The column kind of one (resolved) property schema; alternatives widen into one kind."""
    kinds: list[Kind] = []
    for branch in _branches(doc, node):
        branch = _resolve(doc, branch)
        if "anyOf" in branch or "oneOf" in branch:
            kinds.append(kind_of_schema(doc, branch))
            continue
        kinds.append(_scalar_kind(branch))
    if not kinds:
        return "text"
    kind = kinds[0]
    for other in kinds[1:]:
        kind = widen(kind, other)
    return kind


def _scalar_kind(node: Mapping[str, Any]) -> Kind:
    typ, fmt = node.get("type"), node.get("format")
    if typ == "integer":
        return "bigint"
    if typ == "number":
        return "decimal" if fmt == "decimal" else "double"
    if typ == "boolean":
        return "boolean"
    if typ == "string":
        return {"date-time": "timestamp", "date": "date", "uuid": "uuid", "decimal": "decimal"}.get(fmt, "text")  # type: ignore[return-value]
    if typ in ("object", "array") or "properties" in node or "items" in node:
        return "json"
    if "enum" in node and all(isinstance(v, str) for v in node["enum"]):
        return "text"
    return "json"  # no type: anything goes, kept as JSON
