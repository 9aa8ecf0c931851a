"""A rerun (another process, from a checkpoint) must prove it continues the same bytes.

The first run is stopped part way; the file changes on the server; the rerun
resumes from the stored checkpoint with ``Range``.  The checkpoint carries
the file's ETag, Last-Modified and raw length, so the rerun checks the new
answer exactly as a resume within one run would: a changed file ends with
:class:`PartChangedError` and nothing of the new version is spliced in.
Checked for the JSON state file, SQLite and ``dir`` sinks, and the CLI
(the reviewer's SIGTERM reproduction from issue 12).
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
import time
import uuid

import asyncpg
import orjson
import pytest

from streamer import (
    DirSink,
    JsonlSink,
    PartChangedError,
    RetryPolicy,
    SqliteSink,
    StreamConfig,
    StreamerError,
    UrlSource,
    run,
)
from streamer.records import Checkpoint
from streamer.sinks.postgres import PostgresSink
from tests.support.liars import Reply, Script, liar_server
from tests.support.pg_fixture import postgres_dsn  # noqa: F401  (fixture)
from tests.support.processes import reaped

pytestmark = [pytest.mark.faults, pytest.mark.timeout(60)]

LM1, LM2 = "Mon, 01 Dec 2026 00:00:00 GMT", "Tue, 02 Dec 2026 00:00:00 GMT"
V1 = b"".join(b'{"Id":"a%04d","v":1}\n' % i for i in range(2000))
V2 = b"".join(b'{"Id":"a%04d","v":2}\n' % i for i in range(2100))  # same line width, 42000 -> 44100 bytes
V2_SAME_SIZE = V1.replace(b'"v":1', b'"v":2')
CUT = len(V1) // 2
ONE_TRY = RetryPolicy(max_attempts=1, initial_delay=0.01, max_delay=0.01, jitter=0)


def _validators(last_modified: str | None) -> dict[str, str | None]:
    return {"ETag": None, "Last-Modified": last_modified}


FIRST = Script(V1, (Reply(headers=_validators(LM1), stop=CUT, abort=True),))
"""The first run's answer: Last-Modified, no ETag, connection reset half way."""

CHANGED = {
    "last-modified changed": Script(V2, (Reply(headers=_validators(LM2)),)),
    "last-modified dropped": Script(V2_SAME_SIZE, (Reply(headers=_validators(None)),)),
    "200 to the Range, other length": Script(V2, (Reply(status=200, headers=_validators(LM1)),)),
}
UNCHANGED = Script(V1, (Reply(headers=_validators(LM1)),))

NO_VALIDATORS_FIRST = Script(V1, (Reply(headers=_validators(None), stop=CUT, abort=True),))
NO_VALIDATORS_LONGER = Script(V2, (Reply(headers=_validators(None)),))
"""Length only: neither run has a validator, but the Content-Range total differs."""


def _lines(data: bytes) -> list[dict]:
    return [orjson.loads(line) for line in data.splitlines()]


async def _two_runs(tmp_path, first: Script, second: Script, make_sink, *, state: bool):
    """Run 1 breaks part way (no retry); the file becomes ``second``; run 2 resumes."""
    state_path = tmp_path / "state.json" if state else None
    async with liar_server({"data.jsonl": first}) as server:
        source = UrlSource([server.url("data.jsonl")])
        cfg = StreamConfig(batch_size=100, retry=ONE_TRY)
        with pytest.raises(StreamerError):  # the reset, not retried: the first run stops part way
            await run(source, make_sink(), config=cfg, state=state_path, resume=True)
        server.files["data.jsonl"] = second
        server._count.clear()
        server.requests.clear()
        outcome: BaseException | None = None
        try:
            await run(source, make_sink(), config=cfg, state=state_path, resume=True)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            outcome = exc
        return outcome, server.requests


def _jsonl(tmp_path):
    return lambda: JsonlSink(tmp_path / "out.jsonl")


def _jsonl_records(tmp_path) -> list[dict]:
    return _lines((tmp_path / "out.jsonl").read_bytes())


def _sqlite_records(tmp_path) -> list[dict]:
    with sqlite3.connect(tmp_path / "out.db") as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        data = [t for t in tables if not t.startswith("_streamer")]
        assert len(data) == 1, tables
        rows = conn.execute(f'SELECT id, v FROM "{data[0]}" ORDER BY _streamer_line').fetchall()
        return [{"Id": id_, "v": v} for id_, v in rows]


def _dir_records(tmp_path) -> list[dict]:
    records = []
    for path in sorted((tmp_path / "out").rglob("*.jsonl")):
        records.extend(_lines(path.read_bytes()))
    return records


SINKS = {
    "sqlite": (lambda tmp_path: lambda: SqliteSink(tmp_path / "out.db"), _sqlite_records),
    "dir": (lambda tmp_path: lambda: DirSink(tmp_path / "out"), _dir_records),
}


def _assert_not_spliced(records: list[dict]) -> None:
    ids = [r["Id"] for r in records]
    assert 0 < len(ids) < 2000, len(ids)
    assert ids == [f"a{i:04d}" for i in range(len(ids))], "records repeated or skipped"
    assert {r["v"] for r in records} == {1}, "a line of the new version was spliced in"


def _assert_resumed_with_range(requests) -> None:
    assert requests, "the rerun asked nothing"
    assert requests[0][1].get("Range", "").startswith("bytes="), requests[0][1]
    assert requests[0][1]["Range"] != "bytes=0-"


@pytest.mark.parametrize("case", sorted(CHANGED))
async def test_a_rerun_refuses_a_changed_file_from_the_state_file(tmp_path, case):
    error, requests = await _two_runs(tmp_path, FIRST, CHANGED[case], _jsonl(tmp_path), state=True)
    assert isinstance(error, PartChangedError), repr(error)
    assert "\n" not in str(error)
    _assert_resumed_with_range(requests)
    _assert_not_spliced(_jsonl_records(tmp_path))
    parts = orjson.loads((tmp_path / "state.json").read_bytes())
    assert not any(entry.get("done") for entry in _checkpoints(parts).values())


async def test_a_rerun_without_validators_refuses_a_file_of_another_length(tmp_path):
    error, requests = await _two_runs(tmp_path, NO_VALIDATORS_FIRST, NO_VALIDATORS_LONGER, _jsonl(tmp_path), state=True)
    assert isinstance(error, PartChangedError), repr(error)
    assert "44100" in str(error) and "42000" in str(error), str(error)
    _assert_resumed_with_range(requests)
    _assert_not_spliced(_jsonl_records(tmp_path))


@pytest.mark.parametrize(
    "first, second", [(FIRST, UNCHANGED), (NO_VALIDATORS_FIRST, Script(V1, (Reply(headers=_validators(None)),)))],
    ids=["last-modified", "no validators"],
)
async def test_a_rerun_of_an_unchanged_file_resumes_exactly_once(tmp_path, first, second):
    error, requests = await _two_runs(tmp_path, first, second, _jsonl(tmp_path), state=True)
    assert error is None, repr(error)
    _assert_resumed_with_range(requests)
    assert _jsonl_records(tmp_path) == _lines(V1)


@pytest.mark.parametrize("sink", sorted(SINKS))
async def test_a_sink_that_keeps_its_checkpoints_refuses_a_changed_file(tmp_path, sink):
    make, read = SINKS[sink]
    error, requests = await _two_runs(tmp_path, FIRST, CHANGED["last-modified changed"], make(tmp_path), state=False)
    assert isinstance(error, PartChangedError), repr(error)
    _assert_resumed_with_range(requests)
    _assert_not_spliced(read(tmp_path))


@pytest.mark.parametrize("sink", sorted(SINKS))
async def test_a_sink_that_keeps_its_checkpoints_resumes_an_unchanged_file_exactly_once(tmp_path, sink):
    make, read = SINKS[sink]
    error, requests = await _two_runs(tmp_path, FIRST, UNCHANGED, make(tmp_path), state=False)
    assert error is None, repr(error)
    _assert_resumed_with_range(requests)
    assert [(r["Id"], r["v"]) for r in read(tmp_path)] == [(r["Id"], r["v"]) for r in _lines(V1)]


def _checkpoints(state: dict) -> dict:
    for key in ("parts", "checkpoints"):
        if isinstance(state.get(key), dict):
            return state[key]
    raise AssertionError(f"no checkpoints in the state file: {sorted(state)}")


# ----------------------------------------------------------------- storage


def test_a_checkpoint_keeps_last_modified_and_length_and_old_documents_still_load():
    checkpoint = Checkpoint("p", 21000, 1000, last_modified=LM1, length=42000)
    entry = orjson.loads(orjson.dumps(checkpoint.to_json()))
    assert entry["last_modified"] == LM1 and entry["length"] == 42000
    assert Checkpoint.from_json("p", entry) == checkpoint
    old = Checkpoint.from_json("p", {"offset": 5, "line": 1, "done": False, "etag": '"x"'})
    assert (old.etag, old.last_modified, old.length) == ('"x"', None, None)


async def test_a_sqlite_checkpoint_table_of_an_older_build_gains_the_columns(tmp_path):
    path = tmp_path / "out.db"
    with sqlite3.connect(path) as conn:  # the table as 0.1.0 made it
        conn.execute(
            "CREATE TABLE _streamer_checkpoints (part_key VARCHAR PRIMARY KEY, byte_offset BIGINT NOT NULL, "
            "line BIGINT NOT NULL, done BOOLEAN NOT NULL, decoder_state VARCHAR, compressed BOOLEAN NOT NULL)"
        )
        conn.execute("INSERT INTO _streamer_checkpoints VALUES ('old', 10, 2, 0, NULL, 0)")
    sink = SqliteSink(path)
    await sink.open()
    try:
        loaded = await sink.load_checkpoints()
    finally:
        await sink.close(None)
    assert loaded["old"] == Checkpoint("old", 10, 2)
    with sqlite3.connect(path) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(_streamer_checkpoints)")}
    assert {"etag", "last_modified", "file_length"} <= columns


async def test_a_postgres_checkpoint_table_of_an_older_build_gains_the_columns(postgres_dsn):  # noqa: F811
    schema = f"old_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(postgres_dsn)
    try:  # the table as 0.1.0 made it
        await conn.execute(
            f"CREATE SCHEMA {schema}; CREATE TABLE {schema}._streamer_checkpoints (part_key TEXT PRIMARY KEY, "
            "byte_offset BIGINT NOT NULL, line BIGINT NOT NULL, done BOOLEAN NOT NULL, decoder_state JSONB, "
            "compressed BOOLEAN NOT NULL, updated_at TIMESTAMPTZ NOT NULL DEFAULT now()); "
            f"INSERT INTO {schema}._streamer_checkpoints VALUES ('old', 10, 2, false, NULL, false)"
        )
    finally:
        await conn.close()
    sink = PostgresSink(postgres_dsn, schema=schema)
    await sink.open()
    try:
        assert (await sink.load_checkpoints())["old"] == Checkpoint("old", 10, 2)
    finally:
        await sink.close(None)


# ----------------------------------------------------------------- the CLI


async def test_the_cli_rerun_after_sigterm_refuses_a_changed_file_in_one_line(tmp_path):
    """Issue 12's reproduction: SIGTERM after ~1000 of 2000 lines, the file changes, rerun with --state."""
    out, state = tmp_path / "out.jsonl", tmp_path / "state.json"
    first = Script(V1, (Reply(headers=_validators(LM1), trickle_from=CUT, trickle=3600),))
    async with liar_server({"data.jsonl": first}) as server:
        args = [sys.executable, "-m", "streamer.cli.main", "-q", "urls", server.url("data.jsonl"),
                "--batch-size", "100", "--state", str(state), "-o", str(out)]
        process = await asyncio.create_subprocess_exec(*args, stderr=asyncio.subprocess.PIPE)
        async with reaped(process):  # killed on the way out if an assertion fails first
            deadline = time.monotonic() + 20
            while not (out.exists() and out.stat().st_size >= CUT - 2100):
                assert time.monotonic() < deadline and process.returncode is None, "the first run never got going"
                await asyncio.sleep(0.05)
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode != 0
        server.files["data.jsonl"] = Script(V2, (Reply(headers=_validators(LM2)),))
        server._count.clear()
        rerun = await asyncio.create_subprocess_exec(*args, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(rerun.communicate(), 30)
    text = err.decode()
    assert rerun.returncode == 1, text
    assert "Traceback" not in text
    assert len(text.strip().splitlines()) == 1, text
    assert "changed" in text and LM2 in text, text
    _assert_not_spliced(_lines(out.read_bytes()))
