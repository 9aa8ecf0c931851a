"""How SQLite, DuckDB and PostgreSQL spell a typed table: column types, DDL, the upsert.

One :class:`Dialect` per database; the loaders only execute what it writes.
Each table's :class:`~streamer.tables.columns.TableSchema` is kept as JSON in
``_streamer_tables`` and updated in the transaction that changes the table,
so a resumed run knows the kinds its columns were widened to (SQLite cannot
alter a column's declared type; its values carry their own).
"""

from __future__ import annotations

from dataclasses import dataclass

from streamer.record_versions import is_not_older
from streamer.tables.columns import KEY_COLUMN, Column, Kind, TableSchema

TABLES_TABLE = "_streamer_tables"


def quoted(name: str) -> str:
    """A column name in SQL: always quoted, as a vendor field may be a keyword (``At``, ``Order``, ``Group``).
    Names are lower-case ``[a-z0-9_]`` (:func:`~streamer.tables.columns.column_name`), so the quoted
    name is the same column as the bare one in all three databases."""
    return f'"{name}"'


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    types: dict[Kind, str]
    alters_types: bool
    """Whether a widened column needs ``ALTER ... TYPE`` (not in SQLite: values carry their own types)."""
    placeholder: str = "?"

    def type_of(self, kind: Kind) -> str:
        return self.types[kind]

    def create(self, table: str, schema: TableSchema) -> str:
        columns = ", ".join(
            f"{quoted(name)} {self.type_of(kind)}" + (" PRIMARY KEY" if name == KEY_COLUMN else "")
            for name, kind in schema.kinds()
        )
        return f"CREATE TABLE IF NOT EXISTS {table} ({columns})"

    def add_column(self, table: str, column: Column) -> str:
        return f"ALTER TABLE {table} ADD COLUMN {quoted(column.name)} {self.type_of(column.kind)}"

    def widen_column(self, table: str, column: Column) -> str | None:
        if not self.alters_types:
            return None
        sql_type = self.type_of(column.kind)
        keyword = "TYPE" if self.name == "postgresql" else "SET DATA TYPE"
        name = quoted(column.name)
        return f"ALTER TABLE {table} ALTER COLUMN {name} {keyword} {sql_type} USING {name}::{sql_type}"

    def tables_ddl(self, qualified: str) -> str:
        return f"CREATE TABLE IF NOT EXISTS {qualified} (table_name {self.types['text']} PRIMARY KEY, columns {self.types['text']} NOT NULL)"

    def tables_upsert(self, qualified: str) -> str:
        a, b = (self.placeholder, self.placeholder) if self.placeholder == "?" else ("$1", "$2")
        return (
            f"INSERT INTO {qualified} (table_name, columns) VALUES ({a}, {b}) "
            "ON CONFLICT (table_name) DO UPDATE SET columns = excluded.columns"
        )

    def not_older(self, schema: TableSchema, new: str, old: str) -> str | None:
        """The upsert's guard against replacing a row by an older version (``UpdatedUtc``), if the table has one."""
        column = next((c for c in schema.columns.values() if c.path == ("UpdatedUtc",)), None)
        if column is None:
            return None
        n, o = f"{new}.{quoted(column.name)}", f"{old}.{quoted(column.name)}"
        if column.kind == "timestamp" and self.name != "sqlite":
            return f"({n} IS NULL OR {o} IS NULL OR {n} >= {o})"
        return is_not_older(n, o, self.name)

    def upsert(self, table: str, source: str, schema: TableSchema) -> str:
        """``INSERT ... SELECT ... ON CONFLICT (id) DO UPDATE``: the row is replaced unless it is newer."""
        names = [quoted(n) for n in schema.names()]
        columns = ", ".join(names)
        updates = ", ".join(f"{n} = excluded.{n}" for n in names if n != quoted(KEY_COLUMN))
        guard = self.not_older(schema, "excluded", table)
        return (
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {source} WHERE true "
            f"ON CONFLICT ({KEY_COLUMN}) DO UPDATE SET {updates}" + (f" WHERE {guard}" if guard else "")
        )


SQLITE = Dialect(
    "sqlite",
    {
        "boolean": "BOOLEAN", "bigint": "INTEGER", "double": "REAL",
        "decimal": "TEXT",  # exact: SQLite has no decimal type, and NUMERIC affinity would round to a double
        "timestamp": "TIMESTAMP", "date": "DATE", "uuid": "TEXT", "text": "TEXT", "json": "TEXT",
    },
    alters_types=False,
)
DUCKDB = Dialect(
    "duckdb",
    {
        "boolean": "BOOLEAN", "bigint": "BIGINT", "double": "DOUBLE", "decimal": "DECIMAL(38, 9)",
        "timestamp": "TIMESTAMPTZ", "date": "DATE", "uuid": "UUID", "text": "VARCHAR", "json": "JSON",
    },
    alters_types=True,
)
POSTGRESQL = Dialect(
    "postgresql",
    {
        "boolean": "boolean", "bigint": "bigint", "double": "double precision", "decimal": "numeric(38, 9)",
        "timestamp": "timestamptz", "date": "date", "uuid": "uuid", "text": "text", "json": "jsonb",
    },
    alters_types=True,
    placeholder="$",
)
