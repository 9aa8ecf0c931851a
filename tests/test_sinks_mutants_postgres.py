"""PostgreSQL sink: what a refused batch says and leaves behind, and DDL sent once per table.

Against the real local server of :mod:`tests.support.pg_fixture`.
"""

from __future__ import annotations

import asyncpg
import pytest

from streamer.errors import PartError, RecordsRefusedError
from streamer.records import Batch, Checkpoint, PartInfo, Record
from streamer.sinks.postgres import PostgresSink
from tests.support.pg_fixture import postgres_dsn  # noqa: F401  (fixture)


async def test_a_batch_refused_with_no_record_to_blame_names_the_server_reason(postgres_dsn: str) -> None:  # noqa: F811
    """The checkpoint, not a record, is what the server refuses (a NUL in the part key): every probe
    of the records passes, so the batch is refused as a whole, with PostgreSQL's own words."""
    schema = "refused_whole"
    sink = PostgresSink(postgres_dsn, schema=schema, layout="json")
    info = PartInfo(source="te\x00st", index=0, entity_type="Note", export_id="exp")
    await sink.open()
    try:
        with pytest.raises(PartError) as raised:
            await sink.write(Batch([Record({"Id": "a"}, info, 1, 0), Record({"Id": "b"}, info, 2, 10)], info,
                                   Checkpoint(info.key, 20, 2)))
        assert not isinstance(raised.value, RecordsRefusedError)
        assert "PostgreSQL refused the batch of lines 1-2: " in str(raised.value)
        assert str(raised.value).endswith('invalid byte sequence for encoding "UTF8": 0x00')
        assert sink.records == 0
    finally:
        await sink.close(None)
    conn = await asyncpg.connect(postgres_dsn)
    try:
        assert await conn.fetchval(f"SELECT count(*) FROM {schema}.note") == 0  # the rows were rolled back too
        assert await conn.fetchval(f"SELECT count(*) FROM {schema}._streamer_checkpoints") == 0
    finally:
        await conn.close()


async def test_a_probe_that_widened_a_typed_table_is_forgotten_with_its_rollback(postgres_dsn: str) -> None:  # noqa: F811
    """The refused batch brings a new field: the probe of its good half adds the column in a
    transaction that is rolled back, so the table must be re-read, not believed to have it."""
    schema = "probe_widened"
    sink = PostgresSink(postgres_dsn, schema=schema)
    info = PartInfo(source="test", index=0, entity_type="Note", export_id="exp")
    await sink.open()
    try:
        await sink.write(Batch([Record({"Id": "a", "Text": "ok"}, info, 1, 0)], info, Checkpoint(info.key, 10, 1)))
        wider = [
            Record({"Id": "b", "Text": "ok", "Extra": "e1"}, info, 2, 10),
            Record({"Id": "c", "Text": "x\u0000y", "Extra": "e2"}, info, 3, 20),
        ]
        with pytest.raises(RecordsRefusedError) as raised:
            await sink.write(Batch(wider, info, Checkpoint(info.key, 30, 3)))
        assert [(record.line, error.offset) for record, error in raised.value.refused] == [(3, 20)]
        await sink.write(Batch(wider[:1], info, Checkpoint(info.key, 30, 3)))
    finally:
        await sink.close(None)
    conn = await asyncpg.connect(postgres_dsn)
    try:
        rows = sorted(tuple(row) for row in await conn.fetch(f"SELECT id, text, extra FROM {schema}.note"))
        checkpoint = await conn.fetchrow(f"SELECT byte_offset, line FROM {schema}._streamer_checkpoints")
    finally:
        await conn.close()
    assert rows == [("a", "ok", None), ("b", "ok", "e1")]
    assert tuple(checkpoint) == (30, 3)


async def test_a_json_table_is_created_once_per_sink_not_per_batch(postgres_dsn: str) -> None:  # noqa: F811
    """A later batch of the same table sends no DDL: the server has no "already exists, skipping" to say."""
    schema = "created_once"
    sink = PostgresSink(postgres_dsn, schema=schema, layout="json")
    info = PartInfo(source="test", index=0, entity_type="Note", export_id="exp")
    notices: list[str] = []
    await sink.open()
    try:
        await sink.write(Batch([Record({"Id": "a"}, info, 1, 0)], info, Checkpoint(info.key, 10, 1)))
        sink._conn.add_log_listener(lambda _conn, message: notices.append(message.message))
        await sink.write(Batch([Record({"Id": "b"}, info, 2, 10)], info, Checkpoint(info.key, 20, 2)))
        await sink.write(Batch([Record({"Id": "a", "v": 2}, info, 3, 20)], info, Checkpoint(info.key, 30, 3)))
    finally:
        await sink.close(None)
    assert notices == []
    conn = await asyncpg.connect(postgres_dsn)
    try:
        rows = sorted((r["id"], r["record"]) for r in await conn.fetch(f"SELECT id, record::text AS record FROM {schema}.note"))
    finally:
        await conn.close()
    assert rows == [("a", '{"v": 2, "Id": "a"}'), ("b", '{"Id": "b"}')]
