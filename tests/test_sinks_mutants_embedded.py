"""SQLite/DuckDB typed tables: a refused batch is probed through the real typed layer, on the sink's
connection, and the probes leave the table as it was.

No real record is known that a typed SQLite or DuckDB table refuses while the
JSON parser accepts it (docs/safety.md), so the refusal of one record is
stood in for; everything else (loading, rolling back, forgetting) is the
real typed layer on the real database.
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


class RefuseOne:
    """The sink's own typed layer, refusing any load that holds the record with Id ``bad``."""

    def __init__(self, real: Any, refusal: type[BaseException]) -> None:
        self.real = real
        self.refusal = refusal

    def is_typed(self, conn: Any, table: str, batch: Batch) -> bool:
        return self.real.is_typed(conn, table, batch)

    def load(self, conn: Any, table: str, batch: Batch) -> None:
        if any(record.data.get("Id") == "bad" for record in batch.records):
            self.real.forget(table)  # as the real layer does when a load fails
            raise self.refusal("cannot store bad")
        self.real.load(conn, table, batch)

    def forget(self, table: str) -> None:
        self.real.forget(table)


def table_rows(backend: str, path: Path) -> list[tuple[Any, ...]]:
    if backend == "sqlite":
        conn = sqlite3.connect(path)
        try:
            return sorted(conn.execute("SELECT id, text, extra FROM order_item").fetchall())
        finally:
            conn.close()
    import duckdb

    conn = duckdb.connect(str(path), read_only=True)
    try:
        return sorted(conn.execute("SELECT id, text, extra FROM order_item").fetchall())
    finally:
        conn.close()


@pytest.mark.parametrize("backend", ["sqlite", "duckdb"])
async def test_typed_probes_load_on_the_sinks_connection_and_roll_back(tmp_path: Path, backend: str) -> None:
    if backend == "sqlite":
        path = tmp_path / "out.db"
        sink: Any = SqliteSink(path)
        refusal: type[BaseException] = sqlite3.DataError
    else:
        import duckdb

        path = tmp_path / "out.duckdb"
        sink = DuckDBSink(path)
        refusal = duckdb.ConversionException
    await sink.open()
    try:
        await sink.write(make_batch([{"Id": "a", "Text": "one"}]))
        sink._typed = RefuseOne(sink._typed, refusal)
        wider = make_batch([{"Id": "b", "Text": "two", "Extra": "e"}, {"Id": "bad", "Text": "x", "Extra": "f"}],
                           first_line=2)
        with pytest.raises(RecordsRefusedError) as raised:
            await sink.write(wider)
        assert [(record.line, error.offset) for record, error in raised.value.refused] == [(3, 200)]
        assert str(raised.value) == (
            f"OrderItem part 0 of export exp, line 3, byte offset 200: {sink.backend} cannot store this record "
            """(cannot store bad) — '{"Id":"bad","Text":"x","Extra":"f"}'"""
        )
        await sink.write(Batch(wider.records[:1], wider.part, wider.checkpoint))
    finally:
        await sink.close(None)
    assert table_rows(backend, path) == [("a", "one", None), ("b", "two", "e")]
