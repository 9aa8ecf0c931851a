"""SQLite/DuckDB sinks: how a refused batch of a typed table is probed, and what a new database reads as.

No real record is known that a typed SQLite or DuckDB table refuses while
the JSON parser accepts it (docs/safety.md), so the typed probe path is
driven here by a stand-in for the typed layer that refuses one record the
way the backend would (its declared refusal error).  What is asserted is
the sink's side of the contract: each probe loads a subset of the batch's
records with the batch's part and checkpoint, into the right table, inside
a transaction that is rolled back, and the typed layer is told to forget
the table after every probe.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from streamer.errors import RecordsRefusedError
from streamer.records import Batch
from streamer.sinks.duckdb import DuckDBSink
from streamer.sinks.sqlite import SqliteSink
from tests.support.sinks import make_batch


class RefusingTypedLayer:
    """Typed tables that refuse any batch holding the record with Id ``bad``."""

    def __init__(self, refusal: type[BaseException]) -> None:
        self.refusal = refusal
        self.loads: list[tuple[str, list[str], Any, Any, bool]] = []
        self.forgotten: list[str] = []
        self.asked: list[tuple[str, int]] = []

    def is_typed(self, conn: Any, table: str, batch: Batch) -> bool:
        assert conn is not None
        self.asked.append((table, len(batch.records)))
        return True

    def load(self, conn: Any, table: str, batch: Batch) -> None:
        ids = [record.data["Id"] for record in batch.records]
        in_transaction = conn.in_transaction if isinstance(conn, sqlite3.Connection) else True
        self.loads.append((table, ids, batch.part, batch.checkpoint, in_transaction))
        if "bad" in ids:
            raise self.refusal("cannot store bad")

    def forget(self, table: str) -> None:
        self.forgotten.append(table)


@pytest.mark.parametrize("backend", ["sqlite", "duckdb"])
async def test_a_typed_refusal_is_probed_record_by_record_and_rolled_back(tmp_path: Path, backend: str) -> None:
    if backend == "sqlite":
        sink: Any = SqliteSink(tmp_path / "out.db", layout="json")
        refusal: type[BaseException] = sqlite3.DataError
    else:
        import duckdb

        sink = DuckDBSink(tmp_path / "out.duckdb", layout="json")
        refusal = duckdb.ConversionException
    layer = RefusingTypedLayer(refusal)
    sink._typed = layer
    batch = make_batch([{"Id": "a"}, {"Id": "bad"}, {"Id": "c"}, {"Id": "d"}])
    await sink.open()
    try:
        with pytest.raises(RecordsRefusedError) as raised:
            await sink.write(batch)
        assert [(record.line, error.line, error.offset) for record, error in raised.value.refused] == [(2, 2, 100)]
        assert raised.value.refused[0][1].reason == f"{sink.backend} cannot store this record (cannot store bad)"
        assert [ids for _, ids, *_ in layer.loads] == [
            ["a", "bad", "c", "d"],  # the batch itself
            ["a", "bad", "c", "d"],  # the first probe: all of it
            ["a", "bad"], ["a"], ["bad"], ["c", "d"],
        ]
        assert all(table == "order_item" for table, *_ in layer.loads)
        assert all(part is batch.part and checkpoint is batch.checkpoint for _, _, part, checkpoint, _ in layer.loads)
        assert all(in_transaction for *_, in_transaction in layer.loads)
        assert layer.forgotten == ["order_item"] * 5  # after each of the five probes
        assert {table for table, _ in layer.asked} == {"order_item"}
        assert sink.records == 0
        if backend == "sqlite":
            assert not sink._conn.in_transaction  # every probe rolled back
        await sink.write(make_batch([{"Id": "a"}, {"Id": "c"}], first_line=5))  # the connection is usable
        assert sink.records == 2
    finally:
        await sink.close(None)


@pytest.mark.parametrize("backend", ["sqlite", "duckdb"])
async def test_a_database_not_yet_made_reads_as_empty_and_is_not_created(tmp_path: Path, backend: str) -> None:
    path = tmp_path / f"new.{backend}"
    sink: Any = SqliteSink(path, layout="json") if backend == "sqlite" else DuckDBSink(path, layout="json")
    assert await sink.load_checkpoints() == {}
    assert await sink.load_bookmarks() == {}
    assert not path.exists()
