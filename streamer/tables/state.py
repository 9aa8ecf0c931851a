"""Which layout each table has and what its columns are: the state the typed loaders share.

A table that already exists with a ``record`` column was made by the JSON
layout and stays in it (a database keeps working after an upgrade); a table
listed in ``_streamer_tables`` is typed, with the columns stored there; a new
table is typed, its columns from the JSON Schema ``schema_for(part)`` gives
or, when that gives none, from its first batch (and widened as batches come).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson

from streamer.errors import ConfigError
from streamer.records import Batch, PartInfo
from streamer.tables.columns import CONTRACTS, KEY_PROPERTIES, Contract, TableSchema
from streamer.tables.dialects import Dialect

Layout = Literal["typed", "json"]
LAYOUTS: tuple[Layout, ...] = ("typed", "json")

SchemaFor = Callable[[PartInfo], Mapping[str, Any] | None]
"""A part's JSON Schema (the registry's, or an inferred one), or ``None`` to take columns from the data."""


def no_schema(part: PartInfo) -> None:
    """A :data:`SchemaFor` that declares nothing: every table's columns come from its first batch, widened as more arrive."""
    return


def registry_schema(part: PartInfo) -> Mapping[str, Any] | None:
    """The default :data:`SchemaFor`: the vendor entity's schema from the one registry
    (:mod:`streamer.schemas`; ``urls`` with ``schema="mews:OrderItem"`` picks one) with its
    key fields, else ``None`` (columns inferred from the data and widened)."""
    from streamer.schemas.registry import lookup, resolve

    entity = resolve(part.schema) if part.schema else lookup(part.source, part.entity_type)
    if entity is None:
        return None
    schema = entity.json_schema()
    return {**schema, KEY_PROPERTIES: list(entity.key_properties)} if entity.key_properties else schema


@dataclass(frozen=True, slots=True)
class TypedOptions:
    """What a typed table sink is told: the schema seam, the contract, the flattening depth."""

    schema_for: SchemaFor = registry_schema
    contract: Contract = "evolve"
    max_nesting: int = 1

    def __post_init__(self) -> None:
        if self.contract not in CONTRACTS:
            raise ConfigError(f"contract must be one of {', '.join(CONTRACTS)}, not {self.contract!r}")
        if self.max_nesting < 0:
            raise ConfigError(f"max_nesting must be 0 or more, not {self.max_nesting}")


@dataclass(slots=True)
class TableState:
    schema: TableSchema
    exists: bool
    """The table has been created (its DDL committed or about to be, with this batch)."""
    from_data: bool
    """No schema was given and no batch has made its columns yet."""


@dataclass(slots=True)
class Plan:
    """What one batch does to its table: DDL first, then the rows, then the stored schema."""

    rows: Any
    """The :class:`~streamer.tables.batch.BatchTable` (Arrow is imported only when a batch is built)."""
    ddl: list[str]
    schema_json: str | None


class TypedTables:
    """Per-table state and the DDL a batch needs, for one dialect."""

    def __init__(self, dialect: Dialect, options: TypedOptions) -> None:
        self.dialect = dialect
        self.options = options
        self._state: dict[str, TableState | None] = {}
        """table → its state, or ``None`` for a table kept in the JSON layout."""

    def known(self, table: str) -> bool:
        return table in self._state

    def is_typed(self, table: str) -> bool:
        return self._state[table] is not None

    def settle(self, table: str, part: PartInfo, columns: set[str] | None, stored: str | None) -> bool:
        """Decide the table's layout from what the database holds; True when it is typed."""
        if stored is not None:
            state: TableState | None = TableState(TableSchema.from_json(orjson.loads(stored)), True, False)
        elif columns is not None and "record" in columns:
            state = None  # made by the JSON layout: it stays so
        elif columns is not None:
            raise ConfigError(f"table {table} exists but was not made by streamer (no record column, not in _streamer_tables)")
        else:
            declared = self.options.schema_for(part)
            schema = TableSchema.from_json_schema(declared, max_nesting=self.options.max_nesting)
            state = TableState(schema, False, declared is None)
        self._state[table] = state
        return state is not None

    def plan(self, table: str, qualified: str, batch: Batch, loaded_at: datetime) -> Plan:
        from streamer.tables.batch import build_batch

        state = self._state[table]
        assert state is not None
        rows = build_batch(batch, state.schema, self.options.contract, loaded_at, new_table=state.from_data)
        ddl: list[str] = []
        if not state.exists:
            ddl.append(self.dialect.create(qualified, state.schema))
        else:
            ddl.extend(self.dialect.add_column(qualified, c) for c in rows.added)
            ddl.extend(s for c in rows.widened if (s := self.dialect.widen_column(qualified, c)))
        changed = not state.exists or rows.changed
        state.exists, state.from_data = True, False
        return Plan(rows, ddl, orjson.dumps(state.schema.to_json()).decode() if changed else None)

    def schema(self, table: str) -> TableSchema:
        """The columns of a typed table (after :meth:`settle`)."""
        state = self._state[table]
        assert state is not None, f"{table} is in the JSON layout"
        return state.schema

    def forget(self, table: str) -> None:
        """Drop what is known of a table after a rolled-back batch (its DDL was rolled back too)."""
        self._state.pop(table, None)


def check_layout(layout: str) -> Layout:
    if layout not in LAYOUTS:
        raise ConfigError(f"layout must be typed or json, not {layout!r}")
    return layout  # type: ignore[return-value]


def options_from_params(params: dict[str, str]) -> tuple[Layout, TypedOptions]:
    """``?layout=typed&contract=freeze&max_nesting=2`` of a sink URL (the options are removed from ``params``)."""
    layout = check_layout(params.pop("layout", "typed"))
    nesting = params.pop("max_nesting", "1")
    if not nesting.isdigit():
        raise ConfigError(f"max_nesting={nesting!r} should be a whole number")
    return layout, TypedOptions(contract=params.pop("contract", "evolve"), max_nesting=int(nesting))  # type: ignore[arg-type]


def require_arrow(sink: str) -> None:
    """Typed tables build each batch in Arrow: refuse clearly when pyarrow is not installed."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the install
        raise ConfigError(
            f"typed tables in {sink} need pyarrow (a dependency of streamer: reinstall it), or add ?layout=json"
        ) from None
