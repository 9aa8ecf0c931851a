"""Backend refusals follow the bad-line policy, against the real backends.

PostgreSQL refuses valid JSON lines: ``\\u0000`` in a JSONB string or key,
NUL in a TEXT key column (an ``Id`` of ``"a\\u0000b"``), numbers beyond
``numeric`` (``1e1000000``), an Id too long for the primary key's index
(6 kB of random text: ``index row requires ... bytes``).  SQLite and DuckDB store all of those as read
(checked here too); SQLite refuses a record past its length limit, which a
connection limit brings within reach of a test.  Under ``fail`` the run stops
with one line naming part, line and byte offset, nothing of the batch
committed; under ``skip`` the refused records are dead-lettered and every
other record is stored.
"""

from __future__ import annotations

import asyncio
import base64
import random
import sqlite3
import sys
from pathlib import Path

import orjson
import pytest

from streamer import SqliteSink, StreamConfig, UrlSource, run
from streamer.errors import DecodeError, RecordRefusedError
from tests.support.faults import serve_bytes
from tests.support.pg_fixture import postgres_dsn  # noqa: F401  (fixture)

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]

REFUSED_BY_POSTGRES = {
    7: b'{"Id": "nul-in-value", "Note": "a\\u0000b"}',
    19: b'{"Id": "nul-in-key", "a\\u0000": 1}',
    23: b'{"Id": "a\\u0000b", "Note": "nul in the Id column"}',
    31: b'{"Id": "beyond-numeric", "Amount": 1e1000000}',
    37: orjson.dumps({"Id": base64.b64encode(random.Random(37).randbytes(6000)).decode()}),  # > the index's 2.7 kB
}
STORED_EVERYWHERE = {
    11: b'{"Id": "escaped-backslash", "Note": "\\\\u0000 is text here"}',
    13: b'{"Id": "huge-int", "Amount": 123456789012345678901234567890}',
    17: b'{"Id": "1e400", "Amount": 1e400}',
}


def _file() -> tuple[bytes, dict[int, int]]:
    """40 lines, the special ones at their numbers; and each line's byte offset."""
    lines, offsets, offset = [], {}, 0
    for number in range(1, 41):
        line = REFUSED_BY_POSTGRES.get(number) or STORED_EVERYWHERE.get(number) or orjson.dumps({"Id": f"r{number}"})
        offsets[number] = offset
        offset += len(line) + 1
        lines.append(line)
    return b"\n".join(lines) + b"\n", offsets


BODY, OFFSETS = _file()
ALL_IDS = 40


async def _cli(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streamer.cli.main", *args,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), 90)
    return process.returncode, err.decode()


async def _pg_fetch(dsn: str, sql: str) -> list[tuple]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return [tuple(row) for row in await conn.fetch(sql)]
    finally:
        await conn.close()


async def test_postgres_refusal_fails_with_part_line_and_offset_and_commits_nothing(postgres_dsn, tmp_path):  # noqa: F811
    sink = f"{postgres_dsn}?schema=refusal_fail&layout=json"  # the blob layout stores lines as read
    async with serve_bytes({"x.jsonl": BODY}, chunk=4096) as base:
        code, err = await _cli("urls", f"{base}/x.jsonl", "--batch-size", "10", "--sink", sink)
    assert code == 1, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(
        f"streamer: error: part 0 (x.jsonl), line 7, byte offset {OFFSETS[7]}: PostgreSQL cannot store this record "
        "(unsupported Unicode escape sequence: \\u0000 cannot be converted to text."
    ), err
    rows = await _pg_fetch(postgres_dsn, "SELECT done, line FROM refusal_fail._streamer_checkpoints")
    assert rows == [] or not rows[0][0]  # nothing of the refused batch, never "done"
    stored = await _pg_fetch(postgres_dsn, "SELECT count(*) FROM refusal_fail.urls")
    assert stored == [(0,)]  # the first batch (lines 1-10) holds line 7: none of it committed


async def test_postgres_refusals_are_dead_lettered_under_skip_and_the_rest_stored(postgres_dsn, tmp_path):  # noqa: F811
    sink, dead = f"{postgres_dsn}?schema=refusal_skip&layout=json", tmp_path / "dead.jsonl"
    async with serve_bytes({"x.jsonl": BODY}, chunk=4096) as base:
        args = ["urls", f"{base}/x.jsonl", "--batch-size", "10", "--sink", sink]
        code, err = await _cli(*args, "--bad-lines", "skip", "--dead-letter", str(dead))
        assert code == 0, err
        assert "Traceback" not in err
        letters = [orjson.loads(line) for line in dead.read_bytes().splitlines()]
        assert [(e["line"], e["offset"]) for e in letters] == [(n, OFFSETS[n]) for n in sorted(REFUSED_BY_POSTGRES)]
        assert [e["raw"].encode() for e in letters] == [REFUSED_BY_POSTGRES[n] for n in sorted(REFUSED_BY_POSTGRES)]
        assert all(e["error"].startswith("PostgreSQL cannot store this record") for e in letters)
        ids = {row[0] for row in await _pg_fetch(postgres_dsn, "SELECT id FROM refusal_skip.urls")}
        assert len(ids) == ALL_IDS - len(REFUSED_BY_POSTGRES)
        assert {"escaped-backslash", "huge-int", "1e400", "r1", "r40"} <= ids
        done = await _pg_fetch(postgres_dsn, "SELECT done FROM refusal_skip._streamer_checkpoints")
        assert done == [(True,)]

        code, err = await _cli(*args, "--bad-lines", "skip", "--dead-letter", str(dead))  # a rerun: already done
        assert code == 0, err
        assert len(dead.read_bytes().splitlines()) == len(REFUSED_BY_POSTGRES)


@pytest.mark.parametrize("scheme", ["sqlite", "duckdb"])
async def test_embedded_backends_store_every_line_postgres_refuses(tmp_path: Path, scheme: str):
    path = tmp_path / f"out.{scheme}"
    async with serve_bytes({"x.jsonl": BODY}, chunk=4096) as base:
        code, err = await _cli("urls", f"{base}/x.jsonl", "--batch-size", "10", "--sink", f"{scheme}:///{path}?layout=json")
    assert code == 0, err
    if scheme == "sqlite":
        with sqlite3.connect(path) as conn:
            rows = dict(conn.execute("SELECT id, record FROM urls").fetchall())
    else:
        import duckdb

        with duckdb.connect(str(path)) as conn:
            rows = dict(conn.execute("SELECT id, record::VARCHAR FROM urls").fetchall())
    assert len(rows) == ALL_IDS
    assert rows["nul-in-value"].encode() == REFUSED_BY_POSTGRES[7]  # stored as read
    assert "a\x00b" in rows


class _TightSqlite(SqliteSink):
    """SQLite with its length limit at 400 bytes: a real ``string or blob too big`` refusal."""

    def _connect(self):  # type: ignore[no-untyped-def]
        conn = super()._connect()
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 400)
        return conn


@pytest.mark.parametrize("policy", ["fail", "skip"])
async def test_sqlite_refusal_follows_the_policy(tmp_path: Path, policy: str):
    long_lines = {5: 6, 12: 9}  # line -> position among records
    lines = [
        orjson.dumps({"Id": f"r{n}", "pad": "x" * 600 if n in long_lines else ""}) for n in range(1, 16)
    ]
    body = b"\n".join(lines) + b"\n"
    db, dead = tmp_path / "out.db", tmp_path / "dead.jsonl"
    config = StreamConfig(batch_size=4, bad_lines=policy, dead_letter=dead)  # type: ignore[arg-type]
    async with serve_bytes({"y.jsonl": body}, chunk=4096) as base:
        source = UrlSource([f"{base}/y.jsonl"])
        if policy == "fail":
            with pytest.raises(RecordRefusedError) as info:
                await run(source, _TightSqlite(db, layout="json"), config=config)
            assert str(info.value).startswith(
                f"part 0 (y.jsonl), line 5, byte offset {body.index(lines[4])}: SQLite cannot store this record "
                "(string or blob too big)"
            )
            with sqlite3.connect(db) as conn:
                stored = {r[0] for r in conn.execute("SELECT id FROM urls")}
                done = conn.execute("SELECT done FROM _streamer_checkpoints").fetchall()
            assert stored <= {"r1", "r2", "r3", "r4"}  # at most the batches before line 5's
            assert done in ([], [(0,)])
            return
        stats = await run(source, _TightSqlite(db, layout="json"), config=config)
    assert stats.records == 13 and stats.skipped_lines == 2
    with sqlite3.connect(db) as conn:
        assert {r[0] for r in conn.execute("SELECT id FROM urls")} == {f"r{n}" for n in range(1, 16)} - {"r5", "r12"}
    letters = [orjson.loads(line) for line in dead.read_bytes().splitlines()]
    assert [(e["line"], e["offset"]) for e in letters] == [(n, body.index(lines[n - 1])) for n in sorted(long_lines)]


@pytest.mark.parametrize("policy", ["fail", "skip"])
async def test_a_record_a_typed_table_cannot_decode_follows_the_policy(tmp_path: Path, policy: str):
    """Typed tables decode every record: a valid line orjson cannot hold (``1e400``) is a
    refusal like any other — located under ``fail``, dead-lettered under ``skip``."""
    lines = [orjson.dumps({"Id": f"r{n}", "Amount": 1.5}) for n in range(1, 11)]
    lines[6] = b'{"Id": "r7", "Amount": 1e400}'
    body = b"\n".join(lines) + b"\n"
    db, dead = tmp_path / "typed.db", tmp_path / "dead.jsonl"
    config = StreamConfig(batch_size=4, bad_lines=policy, dead_letter=dead if policy == "skip" else None)  # type: ignore[arg-type]
    async with serve_bytes({"t.jsonl": body}, chunk=4096) as base:
        source = UrlSource([f"{base}/t.jsonl"])
        if policy == "fail":
            with pytest.raises(DecodeError, match=rf"part 0 \(t.jsonl\), line 7, byte offset {body.index(lines[6])}:"):
                await run(source, SqliteSink(db), config=config)
            with sqlite3.connect(db) as conn:
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                stored = {r[0] for r in conn.execute("SELECT id FROM urls")} if "urls" in tables else set()
                done = conn.execute("SELECT done FROM _streamer_checkpoints").fetchall()
            assert stored <= {"r1", "r2", "r3", "r4"} and done in ([], [(0,)])  # nothing of r7's batch, not done
            return
        stats = await run(source, SqliteSink(db), config=config)
    assert stats.records == 9 and stats.skipped_lines == 1
    with sqlite3.connect(db) as conn:
        columns = {r[1] for r in conn.execute("PRAGMA table_info(urls)")}
        assert "record" not in columns  # a typed table
        assert {r[0] for r in conn.execute("SELECT id FROM urls")} == {f"r{n}" for n in range(1, 11)} - {"r7"}
    letters = [orjson.loads(line) for line in dead.read_bytes().splitlines()]
    assert [(e["line"], e["offset"]) for e in letters] == [(7, body.index(lines[6]))]
