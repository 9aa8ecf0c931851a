"""Typed tables in PostgreSQL: the batch's typed columns COPYed as CSV into a staging table, then one upsert.

The same shape as the JSON layout (COPY, ``INSERT ... ON CONFLICT``, the
checkpoint, one transaction).  The CSV is written from the Arrow table by
Arrow's C++ writer in a worker thread: asyncpg's binary COPY needed every
value as a Python object first (``to_pylist``: a ``datetime`` per
timestamp), which measured ~45 µs per Mews row, the largest cost of the
sink; the server's CSV parse runs in its own process.  Arrow's CSV keeps
what the columns hold: doubles in their shortest round-trip form, NULL
unquoted and the empty string quoted (PostgreSQL's CSV rule), exact decimals,
ISO timestamps with their ``Z``.  The staging table is a ``TEMP ... (LIKE
target)``, re-made in the transaction that alters the target.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
import pyarrow as pa
import pyarrow.csv as pa_csv

from streamer.records import Batch
from streamer.tables.batch import utc_now
from streamer.tables.dialects import POSTGRESQL, TABLES_TABLE
from streamer.tables.state import TypedOptions, TypedTables


class PostgresTypedTables:
    """The typed layout of one PostgreSQL schema."""

    def __init__(self, schema: str, options: TypedOptions) -> None:
        self.schema = schema
        self.tables = TypedTables(POSTGRESQL, options)
        self._staged: set[str] = set()

    @property
    def _meta(self) -> str:
        return f"{self.schema}.{TABLES_TABLE}"

    async def is_typed(self, conn: Any, table: str, batch: Batch) -> bool:
        if not self.tables.known(table):
            await conn.execute(POSTGRESQL.tables_ddl(self._meta))
            stored = await conn.fetchval(f"SELECT columns FROM {self._meta} WHERE table_name = $1", table)
            names = await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2",
                self.schema, table,
            )
            columns = {r["column_name"] for r in names} or None
            self.tables.settle(table, batch.part, columns, stored)
        return self.tables.is_typed(table)

    def forget(self, table: str) -> None:
        """After a rolled-back probe: what is known of ``table`` (and its staging table) is read again."""
        self.tables.forget(table)
        self._staged.discard(f"_stage_{table}"[:63])

    async def load(self, conn: Any, table: str, batch: Batch) -> None:
        """Within the caller's transaction; what is known of the table is forgotten if it fails."""
        target = f"{self.schema}.{table}"
        stage = f"_stage_{table}"[:63]
        try:
            plan = self.tables.plan(table, target, batch, utc_now())
            for statement in plan.ddl:
                await conn.execute(statement)
            if plan.ddl or stage not in self._staged:
                await conn.execute(
                    f"DROP TABLE IF EXISTS pg_temp.{stage}; "
                    f"CREATE TEMP TABLE {stage} (LIKE {target}) ON COMMIT DELETE ROWS"
                )
                self._staged.add(stage)
                await conn.reload_schema_state()  # COPY's cached introspection would keep the old column types
            rows = plan.rows.table
            if rows.num_rows:
                schema = self.tables.schema(table)
                csv = await anyio.to_thread.run_sync(_csv, rows)
                await conn.copy_to_table(stage, source=_once(csv), columns=schema.names(), format="csv")
                await conn.execute(POSTGRESQL.upsert(target, stage, schema))
            if plan.schema_json is not None:
                await conn.execute(POSTGRESQL.tables_upsert(self._meta), table, plan.schema_json)
        except BaseException:
            self.tables.forget(table)
            self._staged.discard(stage)
            raise


def _csv(rows: pa.Table) -> bytes:
    """The rows as PostgreSQL reads CSV (no header; NULL unquoted, empty text quoted)."""
    out = pa.BufferOutputStream()
    pa_csv.write_csv(rows, out, _CSV)
    return out.getvalue().to_pybytes()


async def _once(data: bytes) -> AsyncIterator[bytes]:
    """The CSV as one chunk: asyncpg reads a file object through a thread pool, which grew the
    process by ~1 MB per batch (262 MB peak on the 200 MB benchmark, against 102 MB this way)."""
    yield data


_CSV = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
