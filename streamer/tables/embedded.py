"""Typed tables in SQLite and DuckDB: the batch's DDL, rows and stored schema in its transaction.

DuckDB gets the batch as an Arrow table (``INSERT ... SELECT`` from it: no
Python value crosses per cell); SQLite, which has no columnar path, gets
``executemany`` of the rows.  Both run inside the transaction the embedded
sink opened, together with the part's checkpoint.
"""

from __future__ import annotations

import decimal
import sqlite3
from typing import Any

import pyarrow as pa

from streamer.records import Batch
from streamer.tables.batch import utc_now
from streamer.tables.columns import KEY_COLUMN
from streamer.tables.dialects import DUCKDB, SQLITE, TABLES_TABLE, Dialect, quoted
from streamer.tables.state import TypedOptions, TypedTables

_INCOMING = "_streamer_incoming"
_EXACT = decimal.Context(prec=38)
"""Decimal(38, 9) without rounding: the default context's 28 digits would round big amounts when normalized."""


class EmbeddedTypedTables:
    """The typed layout of one SQLite or DuckDB database."""

    def __init__(self, dialect: Dialect, options: TypedOptions) -> None:
        assert dialect in (SQLITE, DUCKDB)
        self.dialect = dialect
        self.tables = TypedTables(dialect, options)

    def is_typed(self, conn: Any, table: str, batch: Batch) -> bool:
        """Whether ``table`` takes this batch typed (looked up in the database once per table)."""
        if not self.tables.known(table):
            conn.execute(self.dialect.tables_ddl(TABLES_TABLE))
            stored = conn.execute(f"SELECT columns FROM {TABLES_TABLE} WHERE table_name = ?", [table]).fetchone()
            self.tables.settle(table, batch.part, _columns(conn, table), None if stored is None else stored[0])
        return self.tables.is_typed(table)

    def forget(self, table: str) -> None:
        """After a rolled-back probe: what is known of ``table`` is read again from the database."""
        self.tables.forget(table)

    def load(self, conn: Any, table: str, batch: Batch) -> None:
        """Within the caller's transaction: alter, upsert, store the schema; state is forgotten on failure."""
        try:
            plan = self.tables.plan(table, table, batch, utc_now())
            for statement in plan.ddl:
                conn.execute(statement)
            if plan.rows.table.num_rows:
                (self._duckdb if self.dialect is DUCKDB else self._sqlite)(conn, table, plan.rows.table)
            if plan.schema_json is not None:
                conn.execute(self.dialect.tables_upsert(TABLES_TABLE), [table, plan.schema_json])
        except BaseException:
            self.tables.forget(table)
            raise

    def _duckdb(self, conn: Any, table: str, rows: pa.Table) -> None:
        schema = self.tables.schema(table)
        columns = ", ".join(map(quoted, schema.names()))
        conn.register(_INCOMING, rows)
        try:
            stored = conn.execute(
                f"SELECT count(*) FROM {table} WHERE {KEY_COLUMN} IN (SELECT {KEY_COLUMN} FROM {_INCOMING})"
            ).fetchone()[0]
            if not stored:  # a first load: a plain insert, ~1.6x the upsert's speed on the 200 MB benchmark's batches
                conn.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {_INCOMING}")
                return
            # delete-then-insert: what the JSON layout measured fastest for DuckDB (see sinks/duckdb.py)
            guard = self.dialect.not_older(schema, "incoming", table)
            conn.execute(
                f"DELETE FROM {table} USING {_INCOMING} AS incoming WHERE {table}.{KEY_COLUMN} = incoming.{KEY_COLUMN}"
                + (f" AND {guard}" if guard else "")
            )
            conn.execute(
                f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {_INCOMING} "
                f"WHERE {KEY_COLUMN} NOT IN (SELECT {KEY_COLUMN} FROM {table})"
            )
        finally:
            conn.unregister(_INCOMING)

    def _sqlite(self, conn: Any, table: str, rows: pa.Table) -> None:
        schema = self.tables.schema(table)
        columns = [_sqlite_values(rows.column(i)) for i in range(rows.num_columns)]
        names = [quoted(n) for n in schema.names()]
        marks = ", ".join("?" * len(names))
        updates = ", ".join(f"{n} = excluded.{n}" for n in names if n != quoted(KEY_COLUMN))
        guard = self.dialect.not_older(schema, "excluded", table)
        conn.executemany(
            f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks}) "
            f"ON CONFLICT ({KEY_COLUMN}) DO UPDATE SET {updates}" + (f" WHERE {guard}" if guard else ""),
            zip(*columns, strict=True),
        )


def _columns(conn: Any, table: str) -> set[str] | None:
    """The table's column names, or ``None`` when it does not exist (asked of the catalog, not by failing)."""
    if isinstance(conn, sqlite3.Connection):
        names = {r[1] for r in conn.execute("SELECT * FROM pragma_table_info(?)", [table])}
    else:
        names = {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? AND table_schema = current_schema()",
            [table],
        ).fetchall()}
    return names or None


def _sqlite_values(column: pa.ChunkedArray) -> list[Any]:
    """Python values SQLite binds: timestamps and dates as ISO 8601 text, decimals as their exact text."""
    t = column.type
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return [None if v is None else v.isoformat() for v in column.to_pylist()]
    if pa.types.is_decimal(t):
        return [None if v is None else format(v.normalize(_EXACT), "f") for v in column.to_pylist()]
    return column.to_pylist()
