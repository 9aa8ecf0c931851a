"""The Parquet sink: typed columns from the schema, a file series per entity, row groups of the
configured size, a new file when the columns change, leftovers of a crash removed; read by DuckDB."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow.parquet as pq
import pytest

from streamer.errors import ConfigError
from streamer.providers.mews.entities import OrderItem
from streamer.sinks.parquet import MANIFEST, ParquetSink
from streamer.sinks.registry import sink_from_url
from streamer.tables import TypedOptions
from streamer.schemas import struct_json_schema
from tests.support.sinks import make_batch
from tests.test_typed_tables_sinks import item, write


async def test_typed_files_per_entity_with_row_groups(tmp_path: Path) -> None:
    sink = ParquetSink(tmp_path, typed=TypedOptions(schema_for=lambda p: struct_json_schema(OrderItem)),
                       row_group_size=40, rows_per_file=100)
    await write(
        sink,
        make_batch([item(i) for i in range(150)]),
        make_batch([{"Id": f"p{i}", "Amount": 1.5} for i in range(10)], entity_type="Payment", index=1, done=True),
        make_batch([item(i) for i in range(150, 170)], first_line=151, done=True),
    )
    files = sorted(p.name for p in (tmp_path / "order_item").iterdir())
    assert files == ["part-000001.parquet", "part-000002.parquet"]  # 150 rows: a file at 100, the rest at the end
    meta = pq.ParquetFile(tmp_path / "order_item" / "part-000001.parquet").metadata
    assert meta.num_rows == 150 and [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [40, 40, 40, 30]
    schema = pq.read_schema(tmp_path / "order_item" / "part-000001.parquet")
    assert str(schema.field("updated_utc").type) == "timestamp[us, tz=UTC]"
    assert str(schema.field("unit_count").type) == "int64" and str(schema.field("amount__net_value").type) == "double"
    rows = duckdb.sql(
        f"SELECT count(*), count(DISTINCT id), sum(unit_count), min(updated_utc) FROM '{tmp_path}/order_item/*.parquet'"
    ).fetchall()[0]
    assert rows[:3] == (170, 170, sum(range(170)))
    assert duckdb.sql(f"SELECT count(*) FROM '{tmp_path}/payment/*.parquet'").fetchall() == [(10,)]
    manifest = orjson.loads((tmp_path / MANIFEST).read_bytes())
    assert manifest["checkpoints"]["test/exp/0"]["done"] and manifest["checkpoints"]["test/exp/1"]["done"]
    assert len(manifest["files"]["order_item"]) == 2


async def test_changed_columns_start_a_new_file_and_union_by_name_reads_all(tmp_path: Path) -> None:
    await write(
        ParquetSink(tmp_path),
        make_batch([item(1), item(2)]),
        make_batch([item(3, Note="new"), item(4, UnitCount="four")], first_line=3, done=True),
    )
    assert len(list((tmp_path / "order_item").glob("*.parquet"))) == 2
    got = duckdb.sql(
        f"SELECT id, unit_count, note FROM read_parquet('{tmp_path}/order_item/*.parquet', union_by_name=true) ORDER BY id"
    ).fetchall()
    assert got == [("oi-1", "1", None), ("oi-2", "2", None), ("oi-3", "3", "new"), ("oi-4", "four", None)]


async def test_checkpoints_wait_for_a_finished_file_and_leftovers_are_removed(tmp_path: Path) -> None:
    sink = ParquetSink(tmp_path, rows_per_file=1000)
    await sink.open()
    await sink.write(make_batch([item(1), item(2)]))
    assert await sink.load_checkpoints() == {}  # the file is still open: a crash now re-delivers these
    assert list((tmp_path / "order_item").glob(".*.tmp"))
    # a crash here: the next open removes what no manifest lists
    (tmp_path / "order_item" / "part-000009.parquet").write_bytes(b"renamed before the manifest was")
    again = ParquetSink(tmp_path)
    await again.open()
    assert list((tmp_path / "order_item").iterdir()) == []
    await again.write(make_batch([item(1), item(2)], done=True))
    await again.close(None)
    assert (await again.load_checkpoints())["test/exp/0"].line == 2


def test_parquet_url_options(tmp_path: Path) -> None:
    sink: Any = sink_from_url(f"parquet:///{tmp_path}/o?row_group_size=5&rows_per_file=10&contract=freeze")
    assert (sink.row_group_size, sink.rows_per_file, sink._tables.options.contract) == (5, 10, "freeze")
    for bad, message in (("layout=json", "Parquet files are typed"), ("row_group_size=many", "whole numbers"),
                         ("rows_per_file=0", "at least 1"), ("colour=red", "unknown option")):
        with pytest.raises(ConfigError, match=message):
            sink_from_url(f"parquet:///{tmp_path}/o?{bad}")


async def test_row_groups_are_bounded_by_bytes_as_well_as_rows(tmp_path: Path) -> None:
    """Wide records close a row group at ``row_group_bytes`` long before ``row_group_size`` rows:
    what the sink buffers stays bounded whatever the record width."""
    wide = [item(i, Note="x" * 2000) for i in range(100)]
    sink = ParquetSink(tmp_path, row_group_size=1_000_000, row_group_bytes=60_000, rows_per_file=1_000_000)
    await write(sink, *(make_batch(wide[i:i + 10], first_line=i + 1, done=i == 90) for i in range(0, 100, 10)))
    meta = pq.ParquetFile(tmp_path / "order_item" / "part-000001.parquet").metadata
    groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert sum(groups) == 100 and len(groups) > 1 and max(groups) <= 40  # ~20 kB per 10-row batch: a group per 3
    got = duckdb.sql(f"SELECT count(DISTINCT id), min(length(note)) FROM '{tmp_path}/order_item/*.parquet'").fetchall()
    assert got == [(100, 2000)]


def test_parquet_url_row_group_bytes(tmp_path: Path) -> None:
    sink: Any = sink_from_url(f"parquet:///{tmp_path}/o?row_group_bytes=1048576")
    assert (sink.row_group_bytes, sink.row_group_size) == (1 << 20, 50_000)
    with pytest.raises(ConfigError, match="whole numbers"):
        sink_from_url(f"parquet:///{tmp_path}/o?row_group_bytes=8MB")
    with pytest.raises(ConfigError, match="at least 1"):
        sink_from_url(f"parquet:///{tmp_path}/o?row_group_bytes=0")
