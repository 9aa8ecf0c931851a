"""The embedded database sinks' common shape: one blocking connection, one thread at a time.

SQLite and DuckDB are libraries, not servers: every call blocks.  Each
batch is written in one worker thread (``anyio.to_thread.run_sync``) inside
one transaction that also upserts the part's checkpoint, so the event loop
keeps downloading while the database works, a slow disk still holds back the
next ``write`` (backpressure), and a crash leaves either the whole batch with
its checkpoint or neither: resuming from :meth:`load_checkpoints` delivers
every record exactly once.  A capacity limiter of one keeps the connection
used by a single thread at a time.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from streamer.records import Bookmarks
from streamer.incremental.storage import bookmark_ddl, load_bookmarks_sync, write_bookmarks_sync
from streamer.records import Batch, Checkpoint
from streamer.sinks.rows import (
    CHECKPOINT_COLUMN_LIST,
    CHECKPOINT_TABLE,
    CHECKPOINT_UPDATE,
    LATER_CHECKPOINT_COLUMNS,
    Row,
    RowOf,
    batch_rows,
    checkpoint_from_row,
    checkpoint_row,
    find_refused,
    table_name,
)
from streamer.sinks.base import STORING


class EmbeddedSqlSink(abc.ABC):
    """Base of :class:`~streamer.sinks.sqlite.SqliteSink` and :class:`~streamer.sinks.duckdb.DuckDBSink`."""

    capabilities = STORING  # checkpoints and bookmarks are committed with the rows: see load_checkpoints

    def __init__(self, path: str | Path, *, table_prefix: str = "") -> None:
        self.path = Path(path)
        self.table_prefix = table_prefix
        self.records = 0
        self._conn: Any = None
        self._tables: set[str] = set()
        self._limiter = anyio.CapacityLimiter(1)
        self._typed: Any = None
        """The typed layout (:class:`streamer.tables.embedded.EmbeddedTypedTables`), or ``None`` for JSON only."""

    # -- what a database must provide

    backend: str = "database"
    """The database's name in messages."""
    refusal_errors: tuple[type[BaseException], ...] = ()
    """The backend's exceptions that mean "this data cannot be stored" (not
    "the database is broken"): a batch failing with one is bisected down to
    the refused records (:func:`~streamer.sinks.rows.find_refused`)."""

    @abc.abstractmethod
    def _connect(self) -> Any: ...

    @abc.abstractmethod
    def _create_table_sql(self, table: str) -> str: ...

    @abc.abstractmethod
    def _upsert(self, conn: Any, table: str, rows: list[Row]) -> None: ...

    _checkpoint_ddl = (
        f"CREATE TABLE IF NOT EXISTS {CHECKPOINT_TABLE} ("
        "part_key VARCHAR PRIMARY KEY, byte_offset BIGINT NOT NULL, line BIGINT NOT NULL, "
        "done BOOLEAN NOT NULL, decoder_state VARCHAR, compressed BOOLEAN NOT NULL, etag VARCHAR, "
        "last_modified VARCHAR, file_length BIGINT)"
    )
    _checkpoint_upsert = (
        f"INSERT INTO {CHECKPOINT_TABLE} ({CHECKPOINT_COLUMN_LIST}) "
        f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (part_key) DO UPDATE SET {CHECKPOINT_UPDATE}"
    )

    # -- the Sink protocol

    async def open(self) -> None:
        self._conn = await self._run(self._open_sync)

    def _open_sync(self) -> Any:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._connect()
        self._ensure_checkpoint_table(conn)
        return conn

    def _ensure_checkpoint_table(self, conn: Any) -> None:
        """Create the table, or add the columns a database made by an older streamer lacks."""
        conn.execute(self._checkpoint_ddl)
        conn.execute(bookmark_ddl())
        cursor = conn.execute(f"SELECT * FROM {CHECKPOINT_TABLE} LIMIT 0")
        present = {column[0] for column in cursor.description}
        for column, sql_type in LATER_CHECKPOINT_COLUMNS.items():
            if column not in present:
                conn.execute(f"ALTER TABLE {CHECKPOINT_TABLE} ADD COLUMN {column} {sql_type}")

    async def write(self, batch: Batch) -> None:
        try:
            await self._run(self._write_sync, batch)
        except self.refusal_errors as exc:
            table = table_name(batch.part, self.table_prefix)
            raise await find_refused(
                batch, lambda pairs: self._run(self._probe_sync, table, batch, pairs), self.backend, exc
            ) from None
        self.records += len(batch.records)

    def _probe_sync(self, table: str, batch: Batch, pairs: list[RowOf]) -> BaseException | None:
        """Whether the backend refuses these records of ``batch``, in a transaction that is rolled back.

        A typed table loads them as such (and what it knows of itself is
        re-read after the rollback); a JSON one upserts their rows.
        """
        conn = self._conn
        typed = self._typed is not None and self._typed.is_typed(conn, table, batch)
        typed_batch = batch if typed else None
        conn.execute("BEGIN")
        try:
            if typed_batch is not None:
                records = [record for _, record in pairs]
                self._typed.load(conn, table, Batch(records, typed_batch.part, typed_batch.checkpoint))
            else:
                self._upsert(conn, table, [row for row, _ in pairs])
        except self.refusal_errors as exc:
            return exc
        finally:
            conn.execute("ROLLBACK")
            if typed_batch is not None:
                self._typed.forget(table)
        return None

    def _write_sync(self, batch: Batch) -> None:
        conn = self._conn
        table = table_name(batch.part, self.table_prefix) if batch.records else ""
        typed = bool(table) and self._typed is not None and self._typed.is_typed(conn, table, batch)
        if table and not typed and table not in self._tables:
            conn.execute(self._create_table_sql(table))
            self._tables.add(table)
        conn.execute("BEGIN")
        try:
            if typed:  # streamer/tables: one column per field, evolving in this transaction
                self._typed.load(conn, table, batch)
            elif table:
                self._upsert(conn, table, batch_rows(batch))
            conn.execute(self._checkpoint_upsert, checkpoint_row(batch.checkpoint))
            write_bookmarks_sync(conn, batch.bookmarks)  # an incremental window's end, with its last batch
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def close(self, error: BaseException | None) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with anyio.CancelScope(shield=True):
                await self._run(conn.close)

    # -- resume

    async def load_checkpoints(self) -> dict[str, Checkpoint]:
        """What this database committed, by part key (empty when it does not exist yet)."""
        if not self.path.exists():
            return {}
        return await self._run(self._load_sync)

    def _load_sync(self) -> dict[str, Checkpoint]:
        conn = self._conn or self._connect()
        try:
            self._ensure_checkpoint_table(conn)
            rows = conn.execute(
                f"SELECT {CHECKPOINT_COLUMN_LIST} FROM {CHECKPOINT_TABLE}"
            ).fetchall()
        finally:
            if conn is not self._conn:
                conn.close()
        return {row[0]: checkpoint_from_row(row) for row in rows}

    async def load_bookmarks(self) -> Bookmarks:
        """The bookmarks of incremental exports committed here (empty for a new database)."""
        if not self.path.exists():
            return {}
        return await self._run(lambda: load_bookmarks_sync(self._conn))

    async def _run(self, func: Any, *args: Any) -> Any:
        return await anyio.to_thread.run_sync(func, *args, limiter=self._limiter)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"
