"""PostgreSQL sink: its URL options, and a refused batch bisected in place, committing nothing.

The URL is the only way the CLI configures the sink, so each option and
default is asserted on the sink it builds.  A batch the server refuses for
its data is probed in rolled-back transactions down to the record to blame:
checked here in-process, with the table and the checkpoint left as they
were (the CLI suite sees the same path only through a subprocess).
"""

from __future__ import annotations

import asyncpg
import pytest

from streamer.errors import RecordsRefusedError
from streamer.records import Batch, Checkpoint, PartInfo, Record
from streamer.sinks.postgres import PostgresSink, split_dsn
from tests.support.pg_fixture import postgres_dsn  # noqa: F401  (fixture)


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "pg", "PostgreSQL"])
def test_split_dsn_normalises_the_scheme_and_keeps_libpq_options(scheme: str) -> None:
    dsn, ours = split_dsn(
        f"{scheme}://u:pw@db.internal:6543/warehouse?schema=raw&sslmode=require&table_prefix=x_"
        "&layout=json&contract=freeze&max_nesting=2&application_name="
    )
    assert dsn == "postgresql://u:pw@db.internal:6543/warehouse?sslmode=require&application_name="
    assert ours == {"schema": "raw", "table_prefix": "x_", "layout": "json", "contract": "freeze", "max_nesting": "2"}


def test_split_dsn_leaves_other_schemes_and_blank_options() -> None:
    assert split_dsn("cockroachdb://h/db?schema=") == ("cockroachdb://h/db", {"schema": ""})
    assert split_dsn("postgresql://h/db") == ("postgresql://h/db", {})


def test_from_url_defaults() -> None:
    sink = PostgresSink.from_url("postgresql://u@127.0.0.1/db")
    assert (sink.dsn, sink.schema, sink.table_prefix) == ("postgresql://u@127.0.0.1/db", "public", "")
    assert sink._typed is not None and sink._typed.schema == "public"
    assert repr(sink) == "PostgresSink(127.0.0.1:5432/db, schema=public)"


def test_from_url_options() -> None:
    sink = PostgresSink.from_url("pg://u@h:7/db?schema=raw&table_prefix=t_&contract=freeze&max_nesting=3")
    assert (sink.dsn, sink.schema, sink.table_prefix) == ("postgresql://u@h:7/db", "raw", "t_")
    assert sink._typed.schema == "raw"
    options = sink._typed.tables.options
    assert (options.contract, options.max_nesting) == ("freeze", 3)
    assert repr(sink) == "PostgresSink(h:7/db, schema=raw)"
    assert PostgresSink.from_url("postgresql://u@h/db?layout=json")._typed is None


async def test_a_refused_record_is_found_and_nothing_of_its_batch_is_committed(postgres_dsn: str) -> None:  # noqa: F811
    schema = "probe_json"
    sink = PostgresSink(postgres_dsn, schema=schema, layout="json")
    info = PartInfo(source="test", index=0, entity_type="Note", export_id="exp")
    await sink.open()
    try:
        first = [Record({"Id": f"n{i}"}, info, i, i * 10) for i in range(1, 3)]
        await sink.write(Batch(first, info, Checkpoint(info.key, 20, 2)))
        lines = [Record({"Id": f"n{i}", "Text": "a\u0000b" if i == 5 else "ok"}, info, i, i * 10) for i in range(3, 9)]
        with pytest.raises(RecordsRefusedError) as raised:
            await sink.write(Batch(lines, info, Checkpoint(info.key, 80, 8)))
        assert [(record.line, error.line, error.offset) for record, error in raised.value.refused] == [(5, 5, 50)]
        assert raised.value.refused[0][1].reason.startswith("PostgreSQL cannot store this record (")
        assert sink.records == 2
        # the connection is usable and the probes left nothing behind
        await sink.write(Batch([r for r in lines if r.line != 5], info, Checkpoint(info.key, 80, 8)))
    finally:
        await sink.close(None)
    conn = await asyncpg.connect(postgres_dsn)
    try:
        ids = sorted(row[0] for row in await conn.fetch(f"SELECT id FROM {schema}.note"))
        checkpoint = await conn.fetchrow(f"SELECT byte_offset, line FROM {schema}._streamer_checkpoints")
    finally:
        await conn.close()
    assert ids == sorted(f"n{i}" for i in range(1, 9) if i != 5)
    assert tuple(checkpoint) == (80, 8)


async def test_a_typed_table_refusal_is_probed_as_typed_rows(postgres_dsn: str) -> None:  # noqa: F811
    schema = "probe_typed"
    sink = PostgresSink(postgres_dsn, schema=schema)
    info = PartInfo(source="test", index=0, entity_type="Note", export_id="exp")
    await sink.open()
    try:
        await sink.write(Batch([Record({"Id": "a", "Text": "ok"}, info, 1, 0)], info, Checkpoint(info.key, 10, 1)))
        bad = [Record({"Id": "b", "Text": "ok"}, info, 2, 10), Record({"Id": "c", "Text": "x\u0000y"}, info, 3, 20)]
        with pytest.raises(RecordsRefusedError) as raised:
            await sink.write(Batch(bad, info, Checkpoint(info.key, 30, 3)))
        assert [record.line for record, _ in raised.value.refused] == [3]
        await sink.write(Batch(bad[:1], info, Checkpoint(info.key, 30, 3)))  # what the table knows of itself survived
    finally:
        await sink.close(None)
    conn = await asyncpg.connect(postgres_dsn)
    try:
        rows = sorted(tuple(row) for row in await conn.fetch(f'SELECT id, text FROM {schema}.note'))
    finally:
        await conn.close()
    assert rows == [("a", "ok"), ("b", "ok")]


async def test_checkpoints_and_bookmarks_read_before_open_use_a_connection_of_their_own(postgres_dsn: str) -> None:  # noqa: F811
    schema = "read_first"
    info = PartInfo(source="test", index=0, entity_type="Note", export_id="exp")
    writer = PostgresSink(postgres_dsn, schema=schema, layout="json")
    await writer.open()
    batch = Batch([Record({"Id": "a"}, info, 1, 0)], info, Checkpoint(info.key, 10, 1, done=True))
    batch.bookmarks = {"test/Note": {"stream": "Note", "replication_key": "UpdatedUtc", "replication_key_value": "T1"}}
    await writer.write(batch)
    await writer.close(None)
    reader = PostgresSink(postgres_dsn, schema=schema, layout="json")
    assert await reader.load_checkpoints() == {info.key: Checkpoint(info.key, 10, 1, done=True)}
    assert await reader.load_bookmarks() == batch.bookmarks
    assert reader._conn is None  # nothing left open
    await reader.open()
    try:
        assert await reader.load_bookmarks() == batch.bookmarks  # on the sink's own connection
        assert await reader.load_checkpoints() == {info.key: Checkpoint(info.key, 10, 1, done=True)}
        assert reader._conn is not None and not reader._conn.is_closed()  # reading did not close it
    finally:
        await reader.close(None)


async def test_tables_are_named_with_the_prefix_and_an_empty_part_makes_none(postgres_dsn: str) -> None:  # noqa: F811
    schema = "prefixed"
    sink = PostgresSink(postgres_dsn, schema=schema, table_prefix="raw_", layout="json")
    notes = PartInfo(source="test", index=0, entity_type="Note", export_id="exp")
    empty = PartInfo(source="test", index=1, entity_type="Payment", export_id="exp")
    await sink.open()
    try:
        await sink.write(Batch([Record({"Id": "a"}, notes, 1, 0)], notes, Checkpoint(notes.key, 10, 1)))
        await sink.write(Batch([], empty, Checkpoint(empty.key, 0, 0, done=True)))  # a part without records
    finally:
        await sink.close(None)
    conn = await asyncpg.connect(postgres_dsn)
    try:
        tables = sorted(r[0] for r in await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema))
        done = await conn.fetchval(f"SELECT done FROM {schema}._streamer_checkpoints WHERE part_key = $1", empty.key)
    finally:
        await conn.close()
    assert tables == ["_streamer_bookmarks", "_streamer_checkpoints", "raw_note"]
    assert done is True
