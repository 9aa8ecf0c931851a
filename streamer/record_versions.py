"""Which of two versions of a record is newer, in each SQL dialect the table sinks speak.

A leaf module (stdlib only): the table sinks, the typed tables and the
incremental exports' upserts all compare ``UpdatedUtc`` the same way, and
none of them may pull the others in to do it.
"""

from __future__ import annotations

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

