"""Typed tables keep exactly-once across kill -9: the CLI is SIGKILLed mid-run, rerun, and every
record is in the typed table once (SQLite, PostgreSQL) or in the Parquet files once."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import asyncpg

from streamer.simulator import FaultPlan, Simulator
from tests.support.pg_fixture import postgres_dsn  # noqa: F401  (fixture)
from tests.support.sinks import duplicates
from tests.test_sinks_resume import _kill_and_resume, slow_faults, throttled_sim  # noqa: F401  (fixtures)


async def test_typed_sqlite_killed_and_resumed(throttled_sim: Simulator, slow_faults: FaultPlan, tmp_path: Path) -> None:  # noqa: F811
    path = tmp_path / "out.db"
    expected = await _kill_and_resume(throttled_sim, slow_faults, f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        columns = {r[1] for r in conn.execute("PRAGMA table_info(order_item)")}
        ids = [r[0] for r in conn.execute("SELECT id FROM order_item")]
    assert "record" not in columns and "_streamer_line" in columns and len(columns) > 10
    assert duplicates(ids) == [] and sorted(ids) == expected


async def test_typed_postgres_killed_and_resumed(
    throttled_sim: Simulator, slow_faults: FaultPlan, postgres_dsn: str  # noqa: F811
) -> None:
    schema = f"typed_kill_{uuid.uuid4().hex[:8]}"
    expected = await _kill_and_resume(throttled_sim, slow_faults, f"{postgres_dsn}?schema={schema}")
    conn = await asyncpg.connect(postgres_dsn)
    try:
        ids = [r["id"] for r in await conn.fetch(f"SELECT id FROM {schema}.order_item")]
        kinds = dict(await conn.fetch(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'order_item'",
            schema))
    finally:
        await conn.close()
    assert kinds["_streamer_loaded_at"] == "timestamp with time zone" and "record" not in kinds
    assert duplicates(ids) == [] and sorted(ids) == expected


async def test_parquet_killed_and_resumed(throttled_sim: Simulator, slow_faults: FaultPlan, tmp_path: Path) -> None:  # noqa: F811
    import duckdb

    out = tmp_path / "pq"
    # small files so that some are finished (and checkpointed) before the kill
    expected = await _kill_and_resume(throttled_sim, slow_faults, f"parquet:///{out}?rows_per_file=300&row_group_size=100")
    ids = [r[0] for r in duckdb.sql(f"SELECT id FROM read_parquet('{out}/order_item/*.parquet', union_by_name=true)").fetchall()]
    assert duplicates(ids) == [] and sorted(ids) == expected
    assert not list(out.rglob("*.tmp"))
