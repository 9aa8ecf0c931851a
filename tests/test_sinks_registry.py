"""``--sink URL`` → the right sink, configured as the URL says; bad URLs fail with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamer.errors import ConfigError
from streamer.http.redact import redact_text
from streamer.sinks.directory import DirSink
from streamer.sinks.duckdb import DuckDBSink
from streamer.sinks.jsonl import JsonlSink
from streamer.sinks.postgres import PostgresSink, split_dsn
from streamer.sinks.registry import describe, sink_from_url
from streamer.sinks.singer import SingerSink
from streamer.sinks.sqlite import SqliteSink


def test_paths_follow_the_sqlalchemy_convention() -> None:
    assert sink_from_url("sqlite:///out.db").path == Path("out.db")  # type: ignore[attr-defined]
    assert sink_from_url("sqlite:////var/data/out.db").path == Path("/var/data/out.db")  # type: ignore[attr-defined]
    assert sink_from_url("sqlite:out.db").path == Path("out.db")  # type: ignore[attr-defined]
    assert isinstance(sink_from_url("duckdb:///a.duckdb"), DuckDBSink)


def test_dir_options() -> None:
    sink = sink_from_url("dir:////tmp/out?gzip=1&rotate_mb=1.5&fsync=true")
    assert isinstance(sink, DirSink)
    assert (sink.directory, sink.gzip, sink.rotate_bytes, sink.fsync) == (Path("/tmp/out"), True, 1572864, True)
    plain = sink_from_url("dir:///out")
    assert isinstance(plain, DirSink) and not plain.gzip and plain.rotate_bytes is None


def test_stdout_and_files() -> None:
    assert isinstance(sink_from_url("-"), JsonlSink)
    assert isinstance(sink_from_url("jsonl:-"), JsonlSink)
    assert isinstance(sink_from_url("jsonl:///out.jsonl?metadata=1"), JsonlSink)
    assert isinstance(sink_from_url("singer:-"), SingerSink)


def test_postgres_url_keeps_libpq_options_and_takes_ours() -> None:
    sink = sink_from_url("postgresql://loader:s3cretpw@db.internal:6543/warehouse?schema=raw&sslmode=require")
    assert isinstance(sink, PostgresSink)
    assert sink.schema == "raw"
    assert sink.dsn == "postgresql://loader:s3cretpw@db.internal:6543/warehouse?sslmode=require"
    assert "s3cretpw" not in repr(sink)
    assert redact_text("connect failed for s3cretpw") == "connect failed for ***"  # registered as a secret
    assert "s3cretpw" not in describe("postgresql://loader:s3cretpw@db.internal/warehouse")
    assert split_dsn("postgres://u@h/d?table_prefix=x_")[1] == {"table_prefix": "x_"}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("out.db", "not a URL"),
        ("mysql://h/db", "unknown scheme 'mysql'"),
        ("dir:///out?gzip=maybe", "gzip='maybe'"),
        ("dir:///out?rotate_mb=lots", "rotate_mb='lots'"),
        ("sqlite:///out.db?colour=blue", "unknown option(s) colour"),
        ("sqlite:///out.db?table_prefix=bad-name", "not a plain SQL identifier"),
        ("postgresql://h/db?schema=x;drop", "not a plain SQL identifier"),
        ("sqlite://", "names no path"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        sink = sink_from_url(url)
        if isinstance(sink, SqliteSink):  # table names are checked when the first table is named
            from streamer.sinks.rows import table_name
            from tests.support.sinks import make_batch

            table_name(make_batch([{}]).part, sink.table_prefix)
    assert message in str(info.value)
