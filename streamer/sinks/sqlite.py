"""SQLite (stdlib ``sqlite3``): the embedded default database sink.

One table per entity type — ``id TEXT PRIMARY KEY, enterprise_id,
updated_utc, record`` (the record's JSON as text, queryable with SQLite's
``->>`` / ``json_extract``) — upserted by Id, one transaction per batch
together with the part's checkpoint in ``_streamer_checkpoints``.  WAL
journal with ``synchronous=NORMAL``: a killed process loses nothing that was
committed (a power cut may lose the last transactions, never half of one).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from streamer.sinks.embedded import EmbeddedSqlSink
from streamer.record_versions import newer_only
from streamer.sinks.rows import Row
from streamer.tables.dialects import SQLITE
from streamer.tables.state import TypedOptions, check_layout, require_arrow


class SqliteSink(EmbeddedSqlSink):
    """``SqliteSink("out.db")``: records into SQLite, exactly once across restarts."""

    backend = "SQLite"
    refusal_errors = (sqlite3.DataError,)
    """SQLite stores any valid record as text; only a value past its length
    limit (``SQLITE_MAX_LENGTH``, 1 GB; lines are capped far below by
    ``max_line_bytes``) is refused, as ``DataError: string or blob too big``."""

    def __init__(
        self, path: str | Path, *, table_prefix: str = "", synchronous: str = "NORMAL",
        layout: str = "typed", typed: TypedOptions | None = None,
    ) -> None:
        super().__init__(path, table_prefix=table_prefix)
        if check_layout(layout) == "typed":  # new tables typed (streamer/tables); tables with a record column stay JSON
            require_arrow("SQLite")
            from streamer.tables.embedded import EmbeddedTypedTables

            self._typed = EmbeddedTypedTables(SQLITE, typed or TypedOptions())
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.synchronous = synchronous.upper()

    def _connect(self) -> Any:
        from streamer.sinks.dbfiles import open_error, refuse_foreign_file

        refuse_foreign_file(self.path, backend=self.backend, magic=b"SQLite format 3\0")
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, one per batch.
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        except sqlite3.DatabaseError as exc:  # "unable to open database file"
            raise open_error(self.path, self.backend, exc) from None
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
        except sqlite3.DatabaseError as exc:  # "file is not a database", a read-only journal
            conn.close()
            raise open_error(self.path, self.backend, exc) from None
        return conn

    def _create_table_sql(self, table: str) -> str:
        return (
            f"CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, enterprise_id TEXT, "
            "updated_utc TEXT, record TEXT NOT NULL)"
        )

    def _upsert(self, conn: Any, table: str, rows: list[Row]) -> None:
        conn.executemany(
            f"INSERT INTO {table} (id, enterprise_id, updated_utc, record) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET enterprise_id = excluded.enterprise_id, "
            "updated_utc = excluded.updated_utc, record = excluded.record" + newer_only(table, "sqlite"),
            [(i, e, u, r.decode()) for i, e, u, r in rows],
        )
