"""Every storing sink against its real backend: all records, upsert by Id, checkpoints in the same commit.

The backends are real: a SQLite file, a DuckDB file, a PostgreSQL server
started for the session (``tests/support/pg_fixture.py``), a directory.
What was stored is read back with the backend's own client, not the sink.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from streamer.engine.config import StreamConfig
from streamer.engine.runner import run_export
from streamer.providers.urls import UrlSource
from streamer.records import Batch, Checkpoint
from streamer.simulator import Simulator
from streamer.sinks.directory import DirSink
from streamer.sinks.duckdb import DuckDBSink
from streamer.sinks.postgres import PostgresSink
from streamer.sinks.sqlite import SqliteSink
from tests.support.pg_fixture import postgres_dsn  # noqa: F401  (fixture)
from tests.support.sinks import (
    AcceptedIds,
    InjectedFailure,
    assert_resumed_at_commits,
    committed_by_index,
    dir_records,
    duckdb_rows,
    duplicates,
    fail_at_checkpoint_write,
    make_batch,
    postgres_rows,
    sqlite_rows,
)

Reader = Callable[[], Awaitable[dict[str, list[dict[str, Any]]]]]
"""table → stored records (the JSON), read with the backend's own client."""


class Backend:
    def __init__(self, factory: Callable[[], Any], read: Reader, keyed: bool = True) -> None:
        self.factory = factory
        self.sink = factory()
        self.read = read
        self.keyed = keyed
        """Upserts by Id (databases) rather than appending (files)."""

    def fresh(self) -> Any:
        """A new sink object on the same storage: what a restarted process would build."""
        return self.factory()


@pytest.fixture(params=["sqlite", "duckdb", "postgres", "dir"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    kind = request.param
    if kind == "sqlite":
        path = tmp_path / "out.db"

        async def read_sqlite() -> dict[str, list[dict[str, Any]]]:
            return {t: [r[3] for r in rows] for t, rows in sqlite_rows(path).items()}

        backend = Backend(lambda: SqliteSink(path, layout="json"), read_sqlite)
    elif kind == "duckdb":
        path = tmp_path / "out.duckdb"

        async def read_duckdb() -> dict[str, list[dict[str, Any]]]:
            return {t: [r[3] for r in rows] for t, rows in duckdb_rows(path).items()}

        backend = Backend(lambda: DuckDBSink(path, layout="json"), read_duckdb)
    elif kind == "postgres":
        dsn = request.getfixturevalue("postgres_dsn")
        schema = f"t_{uuid.uuid4().hex[:12]}"

        async def read_postgres() -> dict[str, list[dict[str, Any]]]:
            return {t: [r[3] for r in rows] for t, rows in (await postgres_rows(dsn, schema)).items()}

        backend = Backend(lambda: PostgresSink(dsn, schema=schema, layout="json"), read_postgres)
    else:
        directory = tmp_path / "out"

        async def read_dir() -> dict[str, list[dict[str, Any]]]:
            return dir_records(directory)

        backend = Backend(lambda: DirSink(directory, gzip=True, rotate_bytes=64 << 10), read_dir, keyed=False)
    return backend


async def test_streams_a_multi_entity_export_exactly_once(backend: Backend, sim: Simulator) -> None:
    orders = sim.add_export("OrderItem", records=2500, parts=3)
    payments = sim.add_export("Payment", records=1200, parts=2, gzip=True)
    sources = [
        UrlSource(sim.file_urls(orders), entity_type="OrderItem"),
        UrlSource(sim.file_urls(payments), entity_type="Payment"),
    ]
    for source in sources:
        source.name = f"urls-{source.entity_type}"  # distinct part keys per export
        await run_export(source, backend.sink, config=_config(batch_size=300))
        backend.sink = backend.fresh()

    stored = await backend.read()
    assert set(stored) == {"order_item", "payment"}
    order_ids = [r["Id"] for r in stored["order_item"]]
    payment_ids = [r["Id"] for r in stored["payment"]]
    assert duplicates(order_ids) == [] and duplicates(payment_ids) == []
    assert sorted(order_ids) == sorted(orders.ids())
    assert sorted(payment_ids) == sorted(payments.ids())
    # the record is the whole JSON object, not a projection
    sample = stored["order_item"][0]
    assert {"Id", "EnterpriseId", "UpdatedUtc", "Amount", "AccountingState"} <= set(sample)

    checkpoints = await backend.fresh().load_checkpoints()
    assert len(checkpoints) == 5
    assert all(c.done for c in checkpoints.values())
    assert {c.part_key.split("/")[0] for c in checkpoints.values()} == {"urls-OrderItem", "urls-Payment"}


async def test_checkpoint_commits_with_its_batch_and_a_failed_batch_leaves_neither(backend: Backend) -> None:
    first = {"Id": "a", "EnterpriseId": "e1", "UpdatedUtc": "2025-01-01T00:00:00Z", "v": 1}
    sink = backend.sink
    await sink.open()
    await sink.write(make_batch([first]))
    # a batch that fails before any SQL runs (its record cannot be serialised) ...
    with pytest.raises(TypeError):
        await sink.write(make_batch([{"Id": "b", "v": 2}, {"Id": "c", "v": {1, 2}}], first_line=2))
    # ... and one that fails inside the transaction: rows written, then the checkpoint write raises
    rows_seen_in_transaction = fail_at_checkpoint_write(sink)
    with pytest.raises(InjectedFailure):
        await sink.write(make_batch([{"Id": "b", "v": 2}, {"Id": "c", "v": 3}], first_line=2))
    assert rows_seen_in_transaction == [3], "the failure must come after the batch's rows were written"
    await sink.close(None)
    if not backend.keyed:
        fresh = backend.fresh()  # a restarted run: the sink rolls back what its state does not name
        await fresh.open()
        await fresh.close(None)

    stored = await backend.read()
    assert stored == {"order_item": [first]}
    checkpoints = await backend.fresh().load_checkpoints()
    assert list(checkpoints) == ["test/exp/0"]
    assert (checkpoints["test/exp/0"].line, checkpoints["test/exp/0"].offset) == (1, 100)


async def test_upserts_by_id_or_appends(backend: Backend) -> None:
    sink = backend.sink
    await sink.open()
    await sink.write(make_batch([{"Id": "x", "v": 1}, {"Id": "y", "v": 1}]))
    # the same Id twice in one batch, then again in a later batch
    await sink.write(make_batch([{"Id": "x", "v": 2}, {"Id": "x", "v": 3}, {"id": "z"}, {"noid": True}], first_line=3))
    await sink.write(make_batch([{"Id": "y", "v": 4}], first_line=7, done=True))
    await sink.close(None)

    stored = (await backend.read())["order_item"]
    if backend.keyed:
        by_id = {r.get("Id") or r.get("id") or "synthetic": r for r in stored}
        assert len(stored) == 4
        assert by_id["x"]["v"] == 3 and by_id["y"]["v"] == 4 and by_id["z"] == {"id": "z"}
        assert by_id["synthetic"] == {"noid": True}
    else:
        assert [r.get("v") for r in stored] == [1, 1, 2, 3, None, None, 4]
    checkpoint = (await backend.fresh().load_checkpoints())["test/exp/0"]
    assert checkpoint.done and checkpoint.line == 7


async def test_checkpoint_fields_round_trip(backend: Backend) -> None:
    sink = backend.sink
    await sink.open()
    await sink.write(_keyed_batch())
    await sink.close(None)
    checkpoint = (await backend.fresh().load_checkpoints())["test/exp/0"]
    assert checkpoint == Checkpoint("test/exp/0", 100, 1, decoder_state=STATE, compressed=True, etag='"v1-abc"',
                                    last_modified=LAST_MODIFIED, length=4321)
    assert checkpoint.decoder_state == STATE and checkpoint.compressed and not checkpoint.done
    assert checkpoint.etag == '"v1-abc"'  # a resume in another process refuses a rewritten file
    assert (checkpoint.last_modified, checkpoint.length) == (LAST_MODIFIED, 4321)  # ... also without an ETag


DATABASES = ["sqlite", "duckdb", "postgres"]
"""The backends with key columns and a checkpoint table (files have neither)."""


@pytest.mark.parametrize("backend", DATABASES, indirect=True)
async def test_key_columns_are_stored_beside_the_record(backend: Backend) -> None:
    sink = backend.sink
    await sink.open()
    await sink.write(_keyed_batch())
    await sink.close(None)
    if isinstance(sink, SqliteSink):
        rows = sqlite_rows(sink.path)["order_item"]
    elif isinstance(sink, DuckDBSink):
        rows = duckdb_rows(sink.path)["order_item"]
    else:
        rows = (await postgres_rows(sink.dsn, sink.schema))["order_item"]
    assert [r[:3] for r in rows] == [("k1", "ent-9", "2025-03-04T05:06:07Z")]


STATE = {"header": ["Id", "Name"], "delimiter": ";"}
LAST_MODIFIED = "Mon, 01 Dec 2026 00:00:00 GMT"


def _keyed_batch() -> Batch:
    batch = make_batch([{"Id": "k1", "EnterpriseId": "ent-9", "UpdatedUtc": "2025-03-04T05:06:07Z"}])
    return Batch(batch.records, batch.part, Checkpoint(batch.checkpoint.part_key, 100, 1, decoder_state=STATE,
                                                       compressed=True, etag='"v1-abc"',
                                                       last_modified=LAST_MODIFIED, length=4321))


async def test_resumes_from_what_the_sink_committed(backend: Backend, sim: Simulator) -> None:
    """A run that stops after some batches, resumed with the sink's own checkpoints.

    Checked by identity: the resumed run delivers, part by part, exactly the
    records after the committed line, and asks for each part at exactly its
    committed byte offset; across both runs each id reaches the sink once.
    """
    export = sim.add_export("Reservation", records=3000, parts=2)
    source = UrlSource(sim.file_urls(export), entity_type="Reservation")
    crashing = AcceptedIds(backend.sink, fail_after=3)
    with pytest.raises(RuntimeError, match="crash"):
        await run_export(source, crashing, config=_config(batch_size=200, concurrency=2))
    partial = (await backend.read()).get("reservation", [])
    assert 0 < len(partial) < 3000
    assert sorted(r["Id"] for r in partial) == sorted(crashing.ids())

    sink = backend.fresh()
    committed = committed_by_index(await sink.load_checkpoints())
    assert committed and not all(c.done for c in committed.values())
    assert any(c.offset > 0 for c in committed.values())
    requests_before = len(sim.requests)
    resumed = AcceptedIds(sink)
    await run_export(source, resumed, config=_config(batch_size=200, concurrency=2), checkpoints=await sink.load_checkpoints())

    assert Counter(crashing.ids() + resumed.ids()) == Counter(export.ids())  # each id delivered once
    for index, part in enumerate(export.files):
        ids = list(part.ids())
        line = committed[index].line if index in committed else 0
        assert crashing.ids(index) == ids[:line]
        assert resumed.ids(index) == ids[line:], f"part {index} re-delivered from the wrong line"
    assert_resumed_at_commits(sim.requests[requests_before:], export, committed)
    ids = [r["Id"] for r in (await backend.read())["reservation"]]
    assert duplicates(ids) == []
    assert sorted(ids) == sorted(export.ids())


def _config(**options: Any) -> StreamConfig:
    return StreamConfig(**options)


OLD_CHECKPOINT_TABLE = (
    "CREATE TABLE {table} (part_key VARCHAR PRIMARY KEY, byte_offset BIGINT NOT NULL, line BIGINT NOT NULL, "
    "done BOOLEAN NOT NULL, decoder_state VARCHAR, compressed BOOLEAN NOT NULL)"
)
"""The checkpoint table as the first release made it (no ``etag``)."""


@pytest.mark.parametrize("backend", DATABASES, indirect=True)  # the dir sink's state is JSON: nothing to migrate
async def test_a_checkpoint_table_from_an_older_release_gains_its_new_columns(backend: Backend) -> None:
    sink = backend.sink
    table = "_streamer_checkpoints"
    old_row = "(part_key, byte_offset, line, done, decoder_state, compressed) VALUES ('test/exp/0', 10, 1, FALSE, NULL, FALSE)"
    if isinstance(sink, PostgresSink):
        import asyncpg

        conn = await asyncpg.connect(sink.dsn)
        try:
            await conn.execute(f"CREATE SCHEMA {sink.schema}")
            ddl = OLD_CHECKPOINT_TABLE.format(table=f"{sink.schema}.{table}")
            await conn.execute(ddl.replace("VARCHAR, compressed", "JSONB, compressed")
                               .replace("NOT NULL)", "NOT NULL, updated_at TIMESTAMPTZ NOT NULL DEFAULT now())"))
            await conn.execute(f"INSERT INTO {sink.schema}.{table} {old_row}")
        finally:
            await conn.close()
    else:
        conn = sink._connect()
        conn.execute(OLD_CHECKPOINT_TABLE.format(table=table))
        conn.execute(f"INSERT INTO {table} {old_row}")
        if isinstance(sink, SqliteSink):
            conn.commit()
        conn.close()
    assert (await backend.fresh().load_checkpoints())["test/exp/0"].offset == 10
    batch = make_batch([{"Id": "a"}])
    await sink.open()
    await sink.write(Batch(batch.records, batch.part, Checkpoint("test/exp/0", 20, 2, etag='"v2"')))
    await sink.close(None)
    checkpoint = (await backend.fresh().load_checkpoints())["test/exp/0"]
    assert (checkpoint.offset, checkpoint.etag) == (20, '"v2"')
