"""PostgreSQL via asyncpg (optional extra ``postgres``): COPY for throughput, upsert by Id.

Each batch, in one transaction:

1. ``COPY`` the rows (binary protocol) into a session-local staging table
   (``TEMP ... ON COMMIT DELETE ROWS``, so it empties itself at commit);
2. ``INSERT INTO <table> SELECT ... FROM <staging> ON CONFLICT (id) DO UPDATE``;
3. upsert the part's checkpoint into ``_streamer_checkpoints``.

``COPY`` moves rows an order of magnitude faster than ``INSERT``s, but cannot
upsert by itself: hence the staging table.  Committing the checkpoint in the
same transaction is what makes a resumed run (:meth:`PostgresSink.load_checkpoints`)
deliver every record exactly once.  asyncpg is async, so ``write`` awaits the
server and a slow database holds back the download (backpressure) without
any thread.
"""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from streamer.errors import ConfigError
from streamer.http.redact import redact_text, register_secret
from streamer.records import Bookmarks
from streamer.record_versions import newer_only
from streamer.incremental.storage import bookmark_ddl, bookmark_rows, bookmark_select, bookmark_upsert, bookmarks_from_rows
from streamer.records import Batch, Checkpoint
from streamer.sinks.base import STORING
from streamer.sinks.rows import (
    CHECKPOINT_COLUMN_LIST,
    Row,
    RowOf,
    CHECKPOINT_TABLE,
    CHECKPOINT_UPDATE,
    LATER_CHECKPOINT_COLUMNS,
    batch_rows,
    check_identifier,
    checkpoint_from_row,
    checkpoint_row,
    find_refused,
    table_name,
)
from streamer.tables.state import TypedOptions, check_layout, options_from_params, require_arrow

_OUR_PARAMS = ("schema", "table_prefix", "layout", "contract", "max_nesting")
"""Query parameters of a sink URL that are ours, not libpq's."""


def split_dsn(url: str) -> tuple[str, dict[str, str]]:
    """``postgresql://...?schema=raw`` → (DSN for asyncpg, our options)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {k: v for k, v in query if k in _OUR_PARAMS}
    rest = [(k, v) for k, v in query if k not in _OUR_PARAMS]
    scheme = "postgresql" if parts.scheme in ("postgres", "postgresql", "pg") else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(rest), "")), ours


def _refusal_errors() -> tuple[type[BaseException], ...]:
    """The server's "this data cannot be stored" answers, as opposed to a broken
    connection or database: SQLSTATE class 22 (data exception) and 54 (program
    limit exceeded, e.g. ``index row requires 10680 bytes``)."""
    import asyncpg

    return (asyncpg.DataError, asyncpg.ProgramLimitExceededError)


class PostgresSink:
    """``PostgresSink("postgresql://user:pw@host/db", schema="raw")``."""

    capabilities = STORING  # checkpoints and bookmarks are committed with the rows: see load_checkpoints

    def __init__(
        self, dsn: str, *, schema: str = "public", table_prefix: str = "", layout: str = "typed",
        typed: TypedOptions | None = None,
    ) -> None:
        self.dsn = dsn
        self.schema = check_identifier(schema, "schema")
        self._typed: Any = None
        if check_layout(layout) == "typed":  # new tables typed (streamer/tables); tables with a record column stay JSON
            require_arrow("PostgreSQL")
            from streamer.tables.postgres import PostgresTypedTables

            self._typed = PostgresTypedTables(self.schema, typed or TypedOptions())
        self.table_prefix = table_prefix
        self.records = 0
        self._conn: Any = None
        self._tables: set[str] = set()
        password = urlsplit(dsn).password
        register_secret(password)

    @classmethod
    def from_url(cls, url: str) -> PostgresSink:
        dsn, options = split_dsn(url)
        layout, typed = options_from_params(options)
        return cls(dsn, schema=options.get("schema", "public"), table_prefix=options.get("table_prefix", ""),
                   layout=layout, typed=typed)

    @property
    def _checkpoints(self) -> str:
        return f"{self.schema}.{CHECKPOINT_TABLE}"

    async def _connect(self) -> Any:
        try:
            import asyncpg
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ConfigError("the PostgreSQL sink needs asyncpg: pip install 'streamer[postgres]'") from exc
        try:
            conn = await asyncpg.connect(self.dsn)
        except (OSError, asyncpg.PostgresError) as exc:
            where = urlsplit(self.dsn)
            raise ConfigError(
                f"cannot connect to PostgreSQL at {where.hostname}:{where.port or 5432}{where.path}: "
                f"{redact_text(str(exc))}"
            ) from exc
        await conn.execute(
            f"CREATE SCHEMA IF NOT EXISTS {self.schema}; "
            f"CREATE TABLE IF NOT EXISTS {self._checkpoints} ("
            "part_key TEXT PRIMARY KEY, byte_offset BIGINT NOT NULL, line BIGINT NOT NULL, "
            "done BOOLEAN NOT NULL, decoder_state JSONB, compressed BOOLEAN NOT NULL, etag TEXT, "
            "last_modified TEXT, file_length BIGINT, "
            "updated_at TIMESTAMPTZ NOT NULL DEFAULT now()); "
            # a table made by an older streamer lacks the later columns
            + "".join(
                f"ALTER TABLE {self._checkpoints} ADD COLUMN IF NOT EXISTS {column} {sql_type}; "
                for column, sql_type in LATER_CHECKPOINT_COLUMNS.items()
            )
            + bookmark_ddl(self._bookmarks)
        )
        return conn

    # -- the Sink protocol

    async def open(self) -> None:
        self._conn = await self._connect()

    async def write(self, batch: Batch) -> None:
        """Store the batch and its checkpoint in one transaction.

        A batch the server refuses for its data (SQLSTATE class 22,
        ``asyncpg.DataError``: ``\\u0000`` in JSONB or TEXT, NUL in a key
        column, a number beyond ``numeric``; class 54: an Id too long for the
        primary key's index) is bisected down to the records to blame
        (:func:`~streamer.sinks.rows.find_refused`), raised as
        :class:`~streamer.errors.RecordsRefusedError` for the bad-line policy.
        """
        conn = self._conn
        table = table_name(batch.part, self.table_prefix) if batch.records else ""
        typed = bool(table) and self._typed is not None and await self._typed.is_typed(conn, table, batch)
        rows = batch_rows(batch) if table and not typed else []
        if table and not typed and table not in self._tables:
            await self._create(table)
        try:
            async with conn.transaction():
                if typed:  # streamer/tables: one column per field, evolving in this transaction
                    await self._typed.load(conn, table, batch)
                elif table:
                    await self._upsert(table, rows)
                await conn.execute(
                    f"INSERT INTO {self._checkpoints} ({CHECKPOINT_COLUMN_LIST}) "
                    "VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9) ON CONFLICT (part_key) DO UPDATE SET "
                    f"{CHECKPOINT_UPDATE}, updated_at = now()",
                    *checkpoint_row(batch.checkpoint),
                )
                if batch.bookmarks:  # an incremental window's end, with its last batch
                    await conn.executemany(bookmark_upsert(self._bookmarks, numbered=True), bookmark_rows(batch.bookmarks))
        except _refusal_errors() as exc:
            probe = functools.partial(self._probe, table, batch if typed else None)
            raise await find_refused(batch, probe, "PostgreSQL", exc) from None
        self.records += len(batch.records)

    async def _upsert(self, table: str, rows: list[Row]) -> None:
        stage = f"_stage_{table}"[:63]
        await self._conn.copy_records_to_table(
            stage,
            records=[(i, e, u, r.decode()) for i, e, u, r in rows],
            columns=("id", "enterprise_id", "updated_utc", "record"),
        )
        await self._conn.execute(
            f"INSERT INTO {self.schema}.{table} (id, enterprise_id, updated_utc, record) "
            f"SELECT id, enterprise_id, updated_utc, record FROM {stage} "
            "ON CONFLICT (id) DO UPDATE SET enterprise_id = excluded.enterprise_id, "
            "updated_utc = excluded.updated_utc, record = excluded.record"
            + newer_only(f"{self.schema}.{table}", "postgresql")
        )

    async def _probe(self, table: str, typed_batch: Batch | None, pairs: list[RowOf]) -> BaseException | None:
        """Whether the server refuses these records, in a transaction that is rolled back.

        ``typed_batch``: the table is typed, and the records are loaded as
        such.  What the table knows of itself is re-read first (the failed
        load that led here forgot it, as every probe's rollback does), then
        forgotten again after the rollback.
        """
        transaction = self._conn.transaction()
        await transaction.start()
        try:
            if typed_batch is not None:
                await self._typed.is_typed(self._conn, table, typed_batch)
                records = [record for _, record in pairs]
                await self._typed.load(self._conn, table, Batch(records, typed_batch.part, typed_batch.checkpoint))
            else:
                await self._upsert(table, [row for row, _ in pairs])
        except _refusal_errors() as exc:
            return exc
        finally:
            await transaction.rollback()
            if typed_batch is not None:
                self._typed.forget(table)
        return None

    async def _create(self, table: str) -> None:
        stage = f"_stage_{table}"[:63]
        await self._conn.execute(
            f"CREATE TABLE IF NOT EXISTS {self.schema}.{table} (id TEXT PRIMARY KEY, enterprise_id TEXT, "
            "updated_utc TEXT, record JSONB NOT NULL); "
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} (id TEXT, enterprise_id TEXT, updated_utc TEXT, "
            "record JSONB) ON COMMIT DELETE ROWS"
        )
        self._tables.add(table)

    async def close(self, error: BaseException | None) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close(timeout=10)

    # -- resume

    async def load_checkpoints(self) -> dict[str, Checkpoint]:
        """What the database committed, by part key."""
        conn = self._conn or await self._connect()
        try:
            rows = await conn.fetch(
                f"SELECT {CHECKPOINT_COLUMN_LIST} FROM {self._checkpoints}"
            )
        finally:
            if conn is not self._conn:
                await conn.close()
        return {row["part_key"]: checkpoint_from_row(tuple(row)) for row in rows}

    @property
    def _bookmarks(self) -> str:
        return f"{self.schema}._streamer_bookmarks"

    async def load_bookmarks(self) -> Bookmarks:
        """The bookmarks of incremental exports committed in this schema."""
        conn = self._conn or await self._connect()
        try:
            rows = await conn.fetch(bookmark_select(self._bookmarks))
        finally:
            if conn is not self._conn:
                await conn.close()
        return bookmarks_from_rows(tuple(row) for row in rows)

    def __repr__(self) -> str:
        where = urlsplit(self.dsn)
        return f"PostgresSink({where.hostname}:{where.port or 5432}{where.path}, schema={self.schema})"
