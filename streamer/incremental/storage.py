"""Where the table-shaped sinks keep bookmarks: one ``_streamer_bookmarks`` row per key.

The statements are shared by SQLite, DuckDB (``?`` parameters, a DB-API
connection) and PostgreSQL (``$n`` parameters, asyncpg); each sink runs them
inside the transaction of the batch that carries ``batch.bookmarks``, next
to that batch's checkpoint upsert.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from streamer.records import Bookmarks

BOOKMARK_TABLE = "_streamer_bookmarks"
BOOKMARK_COLUMNS = ("bookmark_key", "stream", "replication_key", "replication_key_value")
_COLUMN_LIST = ", ".join(BOOKMARK_COLUMNS)
_UPDATE = ", ".join(f"{c} = excluded.{c}" for c in BOOKMARK_COLUMNS[1:])

BookmarkRow = tuple[str, str | None, str, str]


def bookmark_ddl(table: str = BOOKMARK_TABLE) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {table} (bookmark_key VARCHAR PRIMARY KEY, stream VARCHAR, "
        "replication_key VARCHAR NOT NULL, replication_key_value VARCHAR NOT NULL)"
    )


def bookmark_upsert(table: str = BOOKMARK_TABLE, *, numbered: bool = False) -> str:
    marks = "$1, $2, $3, $4" if numbered else "?, ?, ?, ?"
    return (
        f"INSERT INTO {table} ({_COLUMN_LIST}) VALUES ({marks}) "
        f"ON CONFLICT (bookmark_key) DO UPDATE SET {_UPDATE}"
    )


def bookmark_select(table: str = BOOKMARK_TABLE) -> str:
    return f"SELECT {_COLUMN_LIST} FROM {table}"


def bookmark_rows(bookmarks: Mapping[str, Mapping[str, Any]]) -> list[BookmarkRow]:
    return [
        (key, entry.get("stream"), str(entry["replication_key"]), str(entry["replication_key_value"]))
        for key, entry in bookmarks.items()
    ]


def bookmarks_from_rows(rows: Iterable[tuple[Any, ...]]) -> Bookmarks:
    return {
        str(key): {"stream": stream, "replication_key": rkey, "replication_key_value": value}
        for key, stream, rkey, value in rows
    }


def write_bookmarks_sync(conn: Any, bookmarks: Mapping[str, Mapping[str, Any]] | None) -> None:
    """SQLite/DuckDB, inside the batch's open transaction."""
    if bookmarks:
        conn.executemany(bookmark_upsert(), bookmark_rows(bookmarks))


def load_bookmarks_sync(conn: Any) -> Bookmarks:
    conn.execute(bookmark_ddl())
    return bookmarks_from_rows(conn.execute(bookmark_select()).fetchall())


