"""Read back what a sink stored, straight from its backend (no code of the sink involved)."""

from __future__ import annotations

import gzip
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from streamer.records import Batch, Checkpoint, PartInfo, Record


def sqlite_rows(path: Path) -> dict[str, list[tuple[str, str | None, str | None, dict[str, Any]]]]:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {
            t: [(i, e, u, orjson.loads(r)) for i, e, u, r in conn.execute(f"SELECT id, enterprise_id, updated_utc, record FROM {t}")]
            for t in tables
            if not t.startswith("_streamer")
        }
    finally:
        conn.close()


def duckdb_rows(path: Path) -> dict[str, list[tuple[str, str | None, str | None, dict[str, Any]]]]:
    import duckdb

    conn = duckdb.connect(str(path), read_only=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        return {
            t: [
                (i, e, u, orjson.loads(r))
                for i, e, u, r in conn.execute(f"SELECT id, enterprise_id, updated_utc, record FROM {t}").fetchall()
            ]
            for t in tables
            if not t.startswith("_streamer")
        }
    finally:
        conn.close()


async def postgres_rows(dsn: str, schema: str) -> dict[str, list[tuple[str, str | None, str | None, dict[str, Any]]]]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        tables = [
            r["table_name"]
            for r in await conn.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
            )
        ]
        out = {}
        for t in tables:
            if t.startswith("_streamer"):
                continue
            rows = await conn.fetch(f"SELECT id, enterprise_id, updated_utc, record::text AS r FROM {schema}.{t}")
            out[t] = [(r["id"], r["enterprise_id"], r["updated_utc"], orjson.loads(r["r"])) for r in rows]
        return out
    finally:
        await conn.close()


def dir_records(directory: Path) -> dict[str, list[dict[str, Any]]]:
    """Every record of every ``<table>-NNNNN.jsonl[.gz]`` file, in file order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(directory.glob("*-*.jsonl*")):
        table = path.name.rsplit("-", 1)[0]
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        out.setdefault(table, []).extend(orjson.loads(line) for line in data.splitlines() if line)
    return out


def duplicates(ids: list[str]) -> list[str]:
    return [i for i, n in Counter(ids).items() if n > 1]


def make_batch(
    records: list[dict[str, Any]],
    *,
    entity_type: str = "OrderItem",
    index: int = 0,
    first_line: int = 1,
    done: bool = False,
) -> Batch:
    """A batch as the engine would hand it over, for sink unit tests."""
    info = PartInfo(source="test", index=index, entity_type=entity_type, export_id="exp")
    recs = [Record(data, info, first_line + i, (first_line + i - 1) * 100) for i, data in enumerate(records)]
    last = first_line + len(records) - 1
    return Batch(recs, info, Checkpoint(info.key, offset=last * 100, line=last, done=done))


class InjectedFailure(RuntimeError):
    """Raised by :func:`fail_at_checkpoint_write` where the sink writes its checkpoint."""


def fail_at_checkpoint_write(sink: Any, table: str = "order_item") -> list[int]:
    """Make the sink's next checkpoint write raise, *after* the batch's rows were written.

    This is the failure a transaction exists for: the rows are in (the
    returned list gets how many rows the table holds at that moment, seen from
    inside the transaction), the checkpoint is not.  Database sinks get a
    connection whose checkpoint statement raises; the directory sink's state
    file write raises after the batch was appended.
    """
    from streamer.sinks.directory import DirSink
    from streamer.sinks.embedded import EmbeddedSqlSink
    from streamer.sinks.postgres import PostgresSink
    from streamer.sinks.rows import CHECKPOINT_TABLE

    seen: list[int] = []

    def is_checkpoint_write(sql: str) -> bool:
        return sql.lstrip().upper().startswith("INSERT") and CHECKPOINT_TABLE in sql

    if isinstance(sink, EmbeddedSqlSink):
        real = sink._conn

        class FailingConnection:
            def execute(self, sql: str, *args: Any) -> Any:
                if is_checkpoint_write(sql):
                    seen.append(real.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
                    raise InjectedFailure("checkpoint write failed after the rows")
                return real.execute(sql, *args)

            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

        sink._conn = FailingConnection()
    elif isinstance(sink, PostgresSink):
        real = sink._conn

        class FailingAsyncConnection:
            async def execute(self, sql: str, *args: Any) -> Any:
                if is_checkpoint_write(sql):
                    seen.append(await real.fetchval(f"SELECT count(*) FROM {sink.schema}.{table}"))
                    raise InjectedFailure("checkpoint write failed after the rows")
                return await real.execute(sql, *args)

            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

        sink._conn = FailingAsyncConnection()
    elif isinstance(sink, DirSink):

        def failing_state_write() -> None:
            seen.append(len(dir_records(sink.directory).get(table, [])))
            raise InjectedFailure("state write failed after the records were appended")

        sink._write_state = failing_state_write  # type: ignore[method-assign]
    else:  # pragma: no cover - a new sink type must say where its checkpoint is written
        raise TypeError(f"no checkpoint-write failure for {type(sink).__name__}")
    return seen


class AcceptedIds:
    """Wraps a sink and logs ``(part index, record Id)`` of every batch its ``write`` accepted.

    Exactly-once is then checked on the multiset of ids the sink was made to
    store across runs, which a primary key cannot hide: a resume that
    re-delivers a record counts it twice even though the upsert keeps one row.
    ``fail_after`` writes, the next one raises ``RuntimeError("crash")``.
    """

    def __init__(self, inner: Any, fail_after: int | None = None) -> None:
        self.inner = inner
        self.fail_after = fail_after
        self.accepted: list[tuple[int, str]] = []
        self.writes = 0

    async def open(self) -> None:
        await self.inner.open()

    async def write(self, batch: Batch) -> None:
        if self.fail_after is not None and self.writes == self.fail_after:
            raise RuntimeError("crash")
        await self.inner.write(batch)
        self.writes += 1
        self.accepted.extend((batch.part.index, r.data["Id"]) for r in batch.records)

    async def close(self, error: BaseException | None) -> None:
        await self.inner.close(error)

    def ids(self, part: int | None = None) -> list[str]:
        return [i for p, i in self.accepted if part is None or p == part]


def committed_by_index(checkpoints: dict[str, Checkpoint]) -> dict[int, Checkpoint]:
    """Checkpoints of one source's parts by part index (the last segment of the key)."""
    return {int(key.rsplit("/", 1)[1]): c for key, c in checkpoints.items()}


def assert_resumed_at_commits(
    requests: list[tuple[str, str, dict[str, str]]], export: Any, committed: dict[int, Checkpoint]
) -> None:
    """Each part of a resumed run was first asked for at exactly its committed offset.

    ``requests`` are the simulator's requests of the resumed run only.  A
    finished part is not fetched again; a part with a committed offset starts
    with ``Range: bytes=<offset>-``; a part with nothing committed starts at 0.
    """
    for index in range(len(export.files)):
        path = f"/files/{export.id}/{export.file_name(index)}"
        gets = [headers for method, p, headers in requests if method == "GET" and p == path]
        checkpoint = committed.get(index)
        if checkpoint is not None and checkpoint.done:
            assert gets == [], f"part {index} was finished yet fetched again: {gets}"
            continue
        assert gets, f"part {index} was never fetched by the resumed run"
        expected = f"bytes={checkpoint.offset}-" if checkpoint is not None and checkpoint.offset else None
        assert gets[0].get("Range") == expected, f"part {index}: first request {gets[0]}, committed {checkpoint}"


WRITES_TABLE = "_streamer_test_writes"
"""One row per committed insert or update of a record row (a table without a key, filled by triggers)."""


def count_sqlite_writes(path: Path, table: str = "order_item") -> None:
    """Create ``table`` as the SQLite sink would, with triggers logging every row write to :data:`WRITES_TABLE`.

    A primary key keeps one row per id whatever happens; the log keeps them
    all, so a record written twice (re-delivered by a resume) shows up, and a
    write rolled back with its transaction (a killed run) does not.
    """
    from streamer.sinks.sqlite import SqliteSink

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(SqliteSink(path)._create_table_sql(table))
        conn.execute(f"CREATE TABLE {WRITES_TABLE} (id TEXT NOT NULL)")
        for event in ("INSERT", "UPDATE"):
            conn.execute(
                f"CREATE TRIGGER log_{event.lower()} AFTER {event} ON {table} "
                f"BEGIN INSERT INTO {WRITES_TABLE} VALUES (NEW.id); END"
            )
    finally:
        conn.close()


def sqlite_writes(path: Path) -> Counter[str]:
    conn = sqlite3.connect(path)
    try:
        return Counter(r[0] for r in conn.execute(f"SELECT id FROM {WRITES_TABLE}"))
    finally:
        conn.close()


async def count_postgres_writes(dsn: str, schema: str, table: str = "order_item") -> None:
    """:func:`count_sqlite_writes` for PostgreSQL: the sink's table, pre-created with a logging trigger."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            f"CREATE SCHEMA {schema}; "
            f"CREATE TABLE {schema}.{table} (id TEXT PRIMARY KEY, enterprise_id TEXT, updated_utc TEXT, "
            "record JSONB NOT NULL); "
            f"CREATE TABLE {schema}.{WRITES_TABLE} (id TEXT NOT NULL); "
            f"CREATE FUNCTION {schema}.log_write() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN INSERT INTO {schema}.{WRITES_TABLE} VALUES (NEW.id); RETURN NULL; END $$; "
            f"CREATE TRIGGER log_write AFTER INSERT OR UPDATE ON {schema}.{table} "
            f"FOR EACH ROW EXECUTE FUNCTION {schema}.log_write()"
        )
    finally:
        await conn.close()


async def postgres_writes(dsn: str, schema: str) -> Counter[str]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return Counter(r["id"] for r in await conn.fetch(f"SELECT id FROM {schema}.{WRITES_TABLE}"))
    finally:
        await conn.close()
