"""Database-specific behaviour: JSON queryable in place, connection errors, large COPY batches."""

from __future__ import annotations

import socket
import sqlite3
import uuid
from pathlib import Path

import asyncpg
import duckdb
import pytest

from streamer.errors import ConfigError
from streamer.sinks.duckdb import DuckDBSink
from streamer.sinks.postgres import PostgresSink
from streamer.sinks.sqlite import SqliteSink
from tests.support.pg_fixture import postgres_dsn  # noqa: F401  (fixture)
from tests.support.sinks import make_batch

RECORDS = [{"Id": f"id{i}", "EnterpriseId": "e", "Amount": {"Currency": "EUR", "Value": i}} for i in range(5000)]


async def test_sqlite_json_is_queryable(tmp_path: Path) -> None:
    sink = SqliteSink(tmp_path / "q.db", table_prefix="raw_", layout="json")
    await sink.open()
    await sink.write(make_batch(RECORDS, done=True))
    await sink.close(None)
    conn = sqlite3.connect(tmp_path / "q.db")
    total = conn.execute("SELECT sum(json_extract(record, '$.Amount.Value')) FROM raw_order_item").fetchone()[0]
    assert total == sum(range(5000))
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_duckdb_json_is_queryable(tmp_path: Path) -> None:
    sink = DuckDBSink(tmp_path / "q.duckdb", layout="json")
    await sink.open()
    await sink.write(make_batch(RECORDS, done=True))
    await sink.close(None)
    conn = duckdb.connect(str(tmp_path / "q.duckdb"), read_only=True)
    total = conn.execute("SELECT sum((record->>'$.Amount.Value')::INT) FROM order_item").fetchone()[0]
    kind = conn.execute(
        "SELECT data_type FROM information_schema.columns WHERE table_name='order_item' AND column_name='record'"
    ).fetchone()[0]
    conn.close()
    assert total == sum(range(5000)) and kind == "JSON"


async def test_postgres_large_batch_through_copy_is_jsonb(postgres_dsn: str) -> None:  # noqa: F811
    schema = f"big_{uuid.uuid4().hex[:8]}"
    sink = PostgresSink(postgres_dsn, schema=schema, layout="json")
    await sink.open()
    await sink.write(make_batch(RECORDS))
    await sink.write(make_batch([{**RECORDS[0], "Amount": {"Value": -1}}], first_line=5001, done=True))
    await sink.close(None)
    conn = await asyncpg.connect(postgres_dsn)
    try:
        total = await conn.fetchval(f"SELECT sum((record->'Amount'->>'Value')::int) FROM {schema}.order_item")
        kind = await conn.fetchval(
            "SELECT data_type FROM information_schema.columns WHERE table_schema=$1 AND column_name='record'", schema
        )
        staging_left = await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema=$1 AND table_name LIKE '_stage%'", schema
        )
    finally:
        await conn.close()
    assert total == sum(range(5000)) - 0 - 1 and kind == "jsonb" and staging_left == 0


async def test_postgres_connection_error_names_the_server_not_the_password() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    sink = PostgresSink(f"postgresql://loader:hunter2pw@127.0.0.1:{port}/warehouse")
    with pytest.raises(ConfigError) as info:
        await sink.open()
    assert f"127.0.0.1:{port}/warehouse" in str(info.value) and "hunter2pw" not in str(info.value)


def test_rows_keep_the_line_as_read_and_decode_only_the_key_columns() -> None:
    from streamer.records import Batch, Checkpoint, PartInfo, Record
    from streamer.sinks.rows import batch_rows

    info = PartInfo("t", 0, entity_type="OrderItem")
    lines = [
        b'{"Id": "a", "EnterpriseId": "e1", "UpdatedUtc": "2026-01-01T00:00:00Z", "Amount": 1.10}',
        b'{"Id": null, "id": 7, "Huge": 1e400}',  # orjson cannot hold it; stored as read
        b'{"Id": 1e400}',  # nor this key: the record gets its positional key
        b'{"Id": "a", "v": 2}',  # same Id later in the batch: the last one wins
    ]
    records = [Record(None, info, n, 0, line) for n, line in enumerate(lines, 1)]
    records.append(Record({"id": "csv-row", "EnterpriseId": "e2"}, info, 5, 0))  # decoded (CSV) record
    rows = batch_rows(Batch(records, info, Checkpoint(info.key, 0, 5)))
    assert rows == [
        ("a", None, None, lines[3]),
        ("7", None, None, lines[1]),
        (f"{info.key}#3", None, None, lines[2]),
        ("csv-row", "e2", None, b'{"id":"csv-row","EnterpriseId":"e2"}'),
    ]
