"""Sink constructors and small contracts: defaults, options passed on, counters, one-line errors.

The CLI builds every sink from a URL and reports its errors in one line;
a default that changes silently (a layout, a schema, a port in a message)
or a counter that resets per batch is caught here.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import pytest

from streamer.errors import ConfigError
from streamer.http.redact import redact_text
from streamer.records import Batch, Checkpoint, PartInfo, Record
from streamer.sinks.base import capabilities_of
from streamer.sinks.duckdb import DuckDBSink
from streamer.sinks.jsonl import JsonlSink
from streamer.sinks.postgres import PostgresSink
from streamer.sinks.rows import batch_rows, table_name
from streamer.sinks.sqlite import SqliteSink
from streamer.tables.state import TypedOptions
from tests.support.sinks import make_batch


def test_sqlite_errors_name_the_database(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "out.db"
    with pytest.raises(ConfigError) as raised:
        SqliteSink(missing, layout="json")._connect()
    assert str(raised.value) == f"cannot open the SQLite database {missing}: unable to open database file"
    foreign = tmp_path / "notes.db"
    foreign.write_bytes(b"some notes")
    with pytest.raises(ConfigError) as raised:
        SqliteSink(foreign, layout="json")._connect()
    assert str(raised.value).startswith(f"{foreign} exists and is not a SQLite database (no SQLite header)")


def test_embedded_sinks_default_to_typed_tables_and_pass_their_options(tmp_path: Path) -> None:
    assert SqliteSink(tmp_path / "a.db")._typed is not None
    duck = DuckDBSink(tmp_path / "a.duckdb", table_prefix="raw_", typed=TypedOptions(contract="freeze"))
    assert duck._typed is not None and duck._typed.tables.options.contract == "freeze"
    assert duck.table_prefix == "raw_" and duck.memory_limit == "256MB"
    assert DuckDBSink(tmp_path / "a.duckdb")._typed.tables.options == TypedOptions()
    assert DuckDBSink(tmp_path / "a.duckdb", layout="json")._typed is None


@pytest.mark.parametrize("limit", ["1GiB", "512MB", "1.5 GB", "64KiB", "2TB"])
def test_duckdb_memory_limits(tmp_path: Path, limit: str) -> None:
    assert DuckDBSink(tmp_path / "a.duckdb", layout="json", memory_limit=limit).memory_limit == limit


def test_duckdb_refuses_a_memory_limit_that_is_not_a_size(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        DuckDBSink(tmp_path / "a.duckdb", memory_limit="lots")
    assert str(raised.value) == "memory_limit 'lots' should be a size such as 256MB or 1GiB"


def test_postgres_defaults_and_a_bad_schema() -> None:
    sink = PostgresSink("postgresql://u@h/db")
    assert (sink.schema, sink.table_prefix, sink._typed is not None) == ("public", "", True)
    with pytest.raises(ConfigError) as raised:
        PostgresSink("postgresql://u@h/db", schema="a-b")
    assert str(raised.value) == "schema 'a-b' is not a plain SQL identifier (letters, digits, _; at most 63)"


def test_postgres_password_is_a_secret_from_the_start() -> None:
    password = f"pw{secrets.token_hex(8)}"
    PostgresSink(f"postgresql://loader:{password}@h/db")
    assert redact_text(f"login failed: {password}") == "login failed: ***"


async def test_postgres_connection_errors_say_where_with_the_default_port() -> None:
    sink = PostgresSink("postgresql://u@127.0.0.1:1/warehouse", layout="json")
    with pytest.raises(ConfigError) as raised:
        await sink.open()
    assert str(raised.value).startswith("cannot connect to PostgreSQL at 127.0.0.1:1/warehouse: ")
    assert "Connect call failed" in str(raised.value) or "refused" in str(raised.value)
    await sink.close(None)  # nothing was opened: nothing to close


async def test_jsonl_to_stdout_for_none_and_dash() -> None:
    for target in (None, "-"):
        sink = JsonlSink(target)
        await sink.open()
        assert sink._stream is sys.stdout.buffer
        await sink.close(None)


async def test_jsonl_counts_records_across_batches(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path / "o.jsonl")
    await sink.open()
    await sink.write(make_batch([{"Id": "a"}, {"Id": "b"}]))
    await sink.write(make_batch([{"Id": "c"}], first_line=3))
    await sink.close(None)
    assert sink.records == 3


def test_a_capabilities_attribute_of_the_wrong_type() -> None:
    class Odd:
        capabilities = "transactional"

    with pytest.raises(TypeError) as raised:
        capabilities_of(Odd())  # type: ignore[arg-type]
    assert str(raised.value) == "Odd.capabilities must be a SinkCapabilities, not 'transactional'"


def test_a_table_name_starting_with_a_digit_then_a_separator() -> None:
    assert table_name(PartInfo(source="x", index=0, entity_type="9Lives")) == "t_9_lives"
    assert table_name(PartInfo(source="x", index=0, entity_type="7")) == "t_7"


def test_a_decoded_record_is_keyed_by_its_current_data_not_its_line() -> None:
    info = PartInfo(source="test", index=0, entity_type="OrderItem", export_id="exp")
    record = Record({"Id": "edited"}, info, 1, 0, raw=b'{"Id":"as read"}')
    rows = batch_rows(Batch([record], info, Checkpoint(info.key, 10, 1)))
    assert rows == [("edited", None, None, b'{"Id":"edited"}')]
