"""Singer output of all four sources, loaded by real Singer targets.

Each source's ``--format singer`` output (from ``streamer simulate`` in a
child process) is piped into MeltanoLabs ``target-postgres`` on a throwaway
PostgreSQL server and into ``target-jsonl``; the rows that land must be
every record streamer emitted, once, with timestamps as ``timestamp with
time zone`` and numbers as numbers.  The targets live in their own venv
(``.ci/install`` creates ``.venv-targets``; their pins clash with ours and
with each other): missing, they skip the tests, or fail them when
``STREAMER_REQUIRE_ALL=1`` (CI).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import pytest

from streamer.simulator.mews import DEMO_ACCESS_TOKEN, DEMO_CLIENT_TOKEN
from tests.support.postgres import find_bindir, temporary_postgres
from tests.support.simulator_process import simulator_process

ROOT = Path(__file__).resolve().parent.parent
TARGET_POSTGRES = ROOT / ".venv-targets" / "bin" / "target-postgres"
TARGET_JSONL = ROOT / ".venv-targets" / "jsonl" / "bin" / "target-jsonl"
RECORDS = 300


def require(path: Path) -> None:
    if path.exists():
        return
    reason = f"{path.name} is not installed at {path} (run .ci/install)"
    if os.environ.get("STREAMER_REQUIRE_ALL") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def simulator() -> Iterator[tuple[str, dict]]:
    with simulator_process("--records", str(RECORDS), "--parts", "2", "--entity", "OrderItem") as served:
        yield served


@pytest.fixture(scope="module")
def postgres_dsn() -> Iterator[str]:
    if find_bindir() is None:
        pytest.skip("no PostgreSQL server binaries")
    with temporary_postgres() as dsn:
        yield dsn


def streamer_singer(source: str, base_url: str, index: dict) -> bytes:
    """``streamer <source> ... --format singer`` against the simulator: its stdout."""
    env = {**os.environ, "MEWS_PLATFORM_URL": base_url, "MEWS_CLIENT_TOKEN": DEMO_CLIENT_TOKEN,
           "MEWS_ACCESS_TOKEN": DEMO_ACCESS_TOKEN, "LOGISENSE_BASE_URL": base_url, "LOGISENSE_USERNAME": "demo",
           "LOGISENSE_PASSWORD": "demo-password", "LOGISENSE_CLIENT_ID": "streamer",
           "REBILLY_API_KEY": "sim-rebilly-secret-key", "REBILLY_ORGANIZATION_ID": "org-targets"}
    fast = ["--poll-interval", "0.05", "--max-poll-interval", "0.2"]
    args = {
        "mews": ["mews", "--entity", "OrderItem", "--entity", "Customer", *fast],
        "logisense": ["logisense", "--latest-of", "8", "--poll-interval", "0.05"],
        "rebilly": ["rebilly", "--base-url", base_url, "--resource", "transactions", "--export-format", "json", *fast],
        "rebilly-csv": ["rebilly", "--base-url", base_url, "--resource", "transactions", "--export-format", "csv", *fast],
        "urls": ["urls", *(f["Url"] for f in index["Exports"][0]["Files"])],
    }[source]
    result = subprocess.run([sys.executable, "-m", "streamer.cli.main", "-q", *args, "--format", "singer"],
                            env=env, capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def emitted(output: bytes) -> tuple[dict[str, dict], dict[str, list[dict]]]:
    """The last SCHEMA and every RECORD of each stream."""
    schemas: dict[str, dict] = {}
    records: dict[str, list[dict]] = {}
    for line in output.splitlines():
        message = orjson.loads(line)
        if message["type"] == "SCHEMA":
            schemas[message["stream"]] = message
        elif message["type"] == "RECORD":
            records.setdefault(message["stream"], []).append(message["record"])
    return schemas, records


def run_target(command: list[str], config: dict, singer: bytes, tmp_path: Path) -> subprocess.CompletedProcess:
    config_file = tmp_path / f"{Path(command[0]).name}.json"
    config_file.write_text(json.dumps(config))
    result = subprocess.run([*command, "--config", str(config_file)], input=singer, capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    return result


async def columns_and_keys(
    dsn: str, schema: str, table: str, key: str, timestamp: str
) -> tuple[dict[str, str], dict[str, str | None]]:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        tables = await connection.fetch("SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema)
        assert table in [t["table_name"] for t in tables], (table, [t["table_name"] for t in tables])
        rows = await connection.fetch(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2",
            schema, table)
        await connection.execute("SET TIME ZONE 'UTC'")
        keys = await connection.fetch(
            f'SELECT "{key}"::text AS key, to_char("{timestamp}", \'YYYY-MM-DD"T"HH24:MI:SS\') AS moment '
            f'FROM "{schema}"."{table}"')
    finally:
        await connection.close()
    return {r["column_name"]: r["data_type"] for r in rows}, {r["key"]: r["moment"] for r in keys}


# (source, stream, key, a timestamp column, a numeric column, records the simulator serves)
CASES = [
    ("mews", "OrderItem", "Id", "CreatedUtc", "UnitCount", None),
    ("logisense", "Usage", "rowId", "created", "amount", None),
    ("rebilly", "transactions", "id", "createdTime", "amount", None),
    ("rebilly-csv", "transactions", "id", "createdTime", "amount", None),
    ("urls", "urls", "Id", "CreatedUtc", "UnitCount", RECORDS),
]


@pytest.mark.parametrize(("source", "stream", "key", "timestamp", "number", "served"), CASES,
                         ids=[c[0] for c in CASES])
def test_target_postgres_loads_every_record_with_typed_columns(
    source: str, stream: str, key: str, timestamp: str, number: str, served: int | None,
    simulator: tuple[str, dict], postgres_dsn: str, tmp_path: Path,
) -> None:
    require(TARGET_POSTGRES)
    base_url, index = simulator
    singer = streamer_singer(source, base_url, index)
    schemas, records = emitted(singer)
    ids = [r[key] for r in records[stream]]
    assert len(ids) == len(set(ids)) and (served is None or len(ids) == served)
    assert schemas[stream]["key_properties"] == [key]
    dsn = urlsplit(postgres_dsn)
    target_schema = f"tap_{source.replace('-', '_')}"
    run_target([str(TARGET_POSTGRES)], {"host": dsn.hostname, "port": dsn.port, "user": dsn.username,
               "password": "", "database": dsn.path.lstrip("/"), "default_target_schema": target_schema},
               singer, tmp_path)
    columns, loaded = asyncio.run(columns_and_keys(postgres_dsn, target_schema, stream, key, timestamp))
    assert sorted(loaded) == sorted(ids)
    # target-postgres 0.8.1 maps ``format: date-time`` to TIMESTAMP, never TIMESTAMPTZ
    # (JSONSchemaToPostgres.register_format_handler("date-time", TIMESTAMP) in its
    # connector.py), so the column is a timestamp without time zone; what streamer
    # controls is that it is a timestamp at all, holding the emitted instant in UTC.
    assert columns[timestamp] == "timestamp without time zone", columns
    sent = {r[key]: r[timestamp] for r in records[stream]}
    assert all(loaded[i] == (sent[i][:19] if sent[i] else None) for i in ids), "timestamps moved"
    assert columns[number] in ("bigint", "integer", "numeric", "double precision"), columns
    assert columns[key] in ("character varying", "text"), columns


@pytest.mark.parametrize(("source", "stream", "key"), [c[:3] for c in CASES], ids=[c[0] for c in CASES])
def test_target_jsonl_writes_every_record(
    source: str, stream: str, key: str, simulator: tuple[str, dict], tmp_path: Path,
) -> None:
    require(TARGET_JSONL)
    base_url, index = simulator
    singer = streamer_singer(source, base_url, index)
    _, records = emitted(singer)
    out = tmp_path / "jsonl"
    out.mkdir()
    run_target([str(TARGET_JSONL)], {"destination_path": str(out), "do_timestamp_file": False}, singer, tmp_path)
    written = [orjson.loads(line) for line in (out / f"{stream}.jsonl").read_bytes().splitlines()]
    assert [r[key] for r in written] == [r[key] for r in records[stream]]
