"""DuckDB (optional extra ``duckdb``): the embedded sink for analytics.

Same layout and guarantees as the SQLite sink, with the record in a ``JSON``
column.  Rows go in as one ``INSERT ... SELECT unnest(list)`` per batch with
the columns bound as lists — measured ~30k rows/s against ~550 rows/s for
``executemany``, which DuckDB runs row by row — after a ``DELETE`` of the
batch's Ids in the same transaction: an upsert by Id, without the cost of
``ON CONFLICT DO UPDATE`` (about half the insert rate here).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from streamer.errors import ConfigError
from streamer.record_versions import is_not_older
from streamer.sinks.embedded import EmbeddedSqlSink
from streamer.sinks.rows import Row
from streamer.tables.dialects import DUCKDB
from streamer.tables.state import TypedOptions, check_layout, require_arrow


class DuckDBSink(EmbeddedSqlSink):
    """``DuckDBSink("out.duckdb")``: records into DuckDB, exactly once across restarts."""

    backend = "DuckDB"

    @property
    def refusal_errors(self) -> tuple[type[BaseException], ...]:  # type: ignore[override]
        """The ``::JSON`` cast refusing a line (``ConversionException: Malformed JSON``).

        The lines that DuckDB's parser refuses and ours accepts were not found
        (lone surrogates, ``1e400``, ``\\u0000``, 30-digit integers, deep
        nesting: see docs/safety.md); should one exist, it is caught here.
        """
        import duckdb

        return (duckdb.ConversionException,)

    def __init__(
        self, path: str | Path, *, table_prefix: str = "", layout: str = "typed",
        typed: TypedOptions | None = None, memory_limit: str = "256MB",
    ) -> None:
        super().__init__(path, table_prefix=table_prefix)
        if not re.fullmatch(r"\d+(\.\d+)?\s*[KMGT]i?B", memory_limit):
            raise ConfigError(f"memory_limit {memory_limit!r} should be a size such as 256MB or 1GiB")
        self.memory_limit = memory_limit  # DuckDB's default is 80% of RAM
        if check_layout(layout) == "typed":  # new tables typed, loaded through Arrow (streamer/tables)
            require_arrow("DuckDB")
            from streamer.tables.embedded import EmbeddedTypedTables

            self._typed = EmbeddedTypedTables(DUCKDB, typed or TypedOptions())
        try:
            import duckdb  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ConfigError("the DuckDB sink needs the duckdb package: pip install 'streamer[duckdb]'") from exc

    def _connect(self) -> Any:
        import duckdb

        from streamer.sinks.dbfiles import open_error, refuse_foreign_file

        refuse_foreign_file(self.path, backend=self.backend, magic=b"DUCK", offset=8)
        try:
            conn = duckdb.connect(str(self.path))
        except duckdb.Error as exc:
            raise open_error(self.path, self.backend, exc) from None
        conn.execute(f"SET memory_limit = '{self.memory_limit}'")  # not connect(config=): other connections would clash
        return conn

    def _create_table_sql(self, table: str) -> str:
        return (
            f"CREATE TABLE IF NOT EXISTS {table} (id VARCHAR PRIMARY KEY, enterprise_id VARCHAR, "
            "updated_utc VARCHAR, record JSON NOT NULL)"
        )

    def _upsert(self, conn: Any, table: str, rows: list[Row]) -> None:
        if not rows:
            return
        ids, enterprises, updated, records = (list(column) for column in zip(*rows, strict=True))
        # Delete-then-insert in the batch's transaction: the same result as
        # ON CONFLICT DO UPDATE (rows are unique per batch), measured ~1.7x faster.
        # A stored row is replaced only by a version that is not older than it
        # (``UpdatedUtc``), as the SQLite and PostgreSQL upserts do.
        conn.execute(
            "CREATE OR REPLACE TEMP TABLE _streamer_incoming AS SELECT * FROM (SELECT unnest($1::VARCHAR[]) AS id, "
            "unnest($2::VARCHAR[]) AS enterprise_id, unnest($3::VARCHAR[]) AS updated_utc, "
            "unnest($4::VARCHAR[])::JSON AS record)",
            [ids, enterprises, updated, [r.decode() for r in records]],
        )
        conn.execute(
            f"DELETE FROM {table} USING _streamer_incoming AS incoming WHERE {table}.id = incoming.id AND "
            + is_not_older("incoming.updated_utc", f"{table}.updated_utc", "duckdb")
        )
        conn.execute(
            f"INSERT INTO {table} (id, enterprise_id, updated_utc, record) "
            f"SELECT * FROM _streamer_incoming WHERE id NOT IN (SELECT id FROM {table})"
        )
        conn.execute("DROP TABLE _streamer_incoming")
