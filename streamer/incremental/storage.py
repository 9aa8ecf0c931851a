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


_ISO_PREFIX = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}"
"""Values that look like ISO 8601 timestamps are compared as instants, the rest as text."""

_AS_INSTANT = {
    # "?" stands for the column.
    # SQLite's date functions read ISO 8601 with a Z or ±HH:MM suffix; NULL when they can't.
    "sqlite": "julianday(?)",
    # PostgreSQL 15 has no non-raising cast: only ISO-looking text is cast.
    "postgresql": "(CASE WHEN ? ~ '" + _ISO_PREFIX + "' THEN ?::timestamptz END)",
    "duckdb": "TRY_CAST(? AS TIMESTAMPTZ)",
}


def is_not_older(new: str, old: str, dialect: str) -> str:
    """SQL that is true unless ``new`` is an older version (``UpdatedUtc``) than ``old``.

    Timestamps are compared as instants, so ``...:00Z`` and ``...:00.5Z`` or
    ``+01:00`` offsets order correctly; values that are not timestamps fall
    back to text order; a missing value never blocks the newer delivery.
    """
    instant = _AS_INSTANT[dialect]
    as_new, as_old = instant.replace("?", new), instant.replace("?", old)
    return (
        f"({new} IS NULL OR {old} IS NULL"
        f" OR COALESCE({as_new} >= {as_old}, {new} >= {old}))"
    )


def newer_only(table: str, dialect: str) -> str:
    """The ``WHERE`` of an upsert by Id that never replaces a row by an older version of it.

    An overlap window or a re-run export may deliver a record again; what it
    delivers is the same version or a newer one, unless exports of different
    moments are streamed out of order — then the row keeps the greatest
    ``UpdatedUtc``.
    """
    return " WHERE " + is_not_older("excluded.updated_utc", f"{table}.updated_utc", dialect)
