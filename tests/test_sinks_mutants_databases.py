"""Sink behaviours the mutation run of streamer/sinks found unguarded (docs/testing.md, "sinks/").

Each test pins one observable behaviour a one-line change would break: the
exact message of a user mistake or of a driver failure, the record count
over several batches, a database in a directory that does not exist yet,
and no table made for a batch that carries only a checkpoint.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from streamer.errors import ConfigError
from streamer.sinks import dbfiles
from streamer.sinks.duckdb import DuckDBSink
from streamer.sinks.jsonl import JsonlSink
from streamer.sinks.registry import resolve_sink, sink_from_url
from streamer.sinks.sqlite import SqliteSink
from tests.support.sinks import make_batch


def test_an_unknown_parquet_option_is_named_with_the_url_and_the_scheme() -> None:
    with pytest.raises(ConfigError) as err:
        sink_from_url("parquet:///tmp/x?bogus=1")
    assert str(err.value) == "sink parquet:///tmp/x?…: unknown option(s) bogus for parquet"


def test_resolve_sink_builds_the_url_with_the_callers_metadata_choice() -> None:
    plain, tagged = resolve_sink("-"), resolve_sink("-", with_metadata=True)
    assert isinstance(plain, JsonlSink) and plain._with_metadata is False
    assert isinstance(tagged, JsonlSink) and tagged._with_metadata is True
    sink = JsonlSink(None)
    assert resolve_sink(sink) is sink


@pytest.mark.parametrize(("factory", "name"), [(SqliteSink, "SQLite"), (DuckDBSink, "DuckDB")])
def test_typed_tables_without_pyarrow_say_so_for_their_sink(
    factory: Any, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow raises ImportError
    with pytest.raises(ConfigError) as err:
        factory(tmp_path / "out.db")
    assert str(err.value) == (
        f"typed tables in {name} need pyarrow (a dependency of streamer: reinstall it), or add ?layout=json"
    )


def test_the_duckdb_sink_without_duckdb_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "duckdb", None)
    with pytest.raises(ConfigError) as err:
        DuckDBSink(tmp_path / "out.duckdb", layout="json")
    assert str(err.value) == "the DuckDB sink needs the duckdb package: pip install 'streamer[duckdb]'"


async def test_a_database_that_will_not_open_is_named_with_the_drivers_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import duckdb

    def refuse_sqlite(*args: Any, **kwargs: Any) -> Any:
        raise sqlite3.OperationalError("unable to open\n database file")

    def refuse_duckdb(*args: Any, **kwargs: Any) -> Any:
        raise duckdb.IOException("Could not set lock on file")

    monkeypatch.setattr(sqlite3, "connect", refuse_sqlite)
    monkeypatch.setattr(duckdb, "connect", refuse_duckdb)
    for sink, message in (
        (SqliteSink(tmp_path / "a.db"), f"cannot open the SQLite database {tmp_path / 'a.db'}: unable to open database file"),
        (DuckDBSink(tmp_path / "b.duckdb"),
         f"cannot open the DuckDB database {tmp_path / 'b.duckdb'}: Could not set lock on file"),
    ):
        with pytest.raises(ConfigError) as err:
            await sink.open()
        assert str(err.value) == message


async def test_an_unreadable_database_file_is_refused_with_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "out.db"
    path.write_bytes(b"SQLite format 3\0")

    def unreadable(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(dbfiles, "open", unreadable, raising=False)  # root reads any file: refuse it here
    with pytest.raises(ConfigError) as err:
        await SqliteSink(path).open()
    assert str(err.value) == f"SQLite database {path}: cannot read it: Permission denied"


@pytest.mark.parametrize("factory", [SqliteSink, DuckDBSink])
async def test_records_are_counted_over_every_batch_into_a_new_directory(factory: Any, tmp_path: Path) -> None:
    sink = factory(tmp_path / "new" / "deeper" / "out.db")  # neither directory exists yet
    await sink.open()
    try:
        await sink.write(make_batch([{"Id": "a"}, {"Id": "b"}, {"Id": "c"}]))
        await sink.write(make_batch([{"Id": "d"}, {"Id": "e"}], first_line=4))
    finally:
        await sink.close(None)
    assert sink.records == 5
    assert (tmp_path / "new" / "deeper" / "out.db").is_file()


async def test_a_batch_with_only_a_checkpoint_makes_no_table(tmp_path: Path) -> None:
    sink = SqliteSink(tmp_path / "out.db")
    await sink.open()
    try:
        await sink.write(make_batch([], first_line=1, done=True))
    finally:
        await sink.close(None)
    with sqlite3.connect(tmp_path / "out.db") as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "order_item" not in tables and "_streamer_checkpoints" in tables
