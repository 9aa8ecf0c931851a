"""``--sink URL`` exactly: each form builds the sink it names, each user mistake gets its one exact line.

The messages are the product's answer to a mistake (one clear line, naming
the URL and the option), so they are asserted whole; the paths are checked
against the file system as it is (a missing directory, a read-only one, a
file where a directory should be) before anything is downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from streamer.errors import ConfigError
from streamer.sinks import registry
from streamer.sinks.directory import DirSink
from streamer.sinks.duckdb import DuckDBSink
from streamer.sinks.registry import describe, ensure_writable, sink_from_url
from streamer.sinks.sqlite import SqliteSink
from tests.support.read_only import make_read_only, read_only  # noqa: F401  (fixture)
from tests.support.sinks import make_batch


def refused(url: str, **kwargs: bool) -> str:
    with pytest.raises(ConfigError) as info:
        sink_from_url(url, **kwargs)
    return str(info.value)


def refused_path(path: Path, what: str = "--state", **kwargs: bool) -> str:
    with pytest.raises(ConfigError) as info:
        ensure_writable(path, what, **kwargs)
    return str(info.value)




async def deliver(sink: object, records: list[dict[str, object]]) -> None:
    await sink.open()  # type: ignore[attr-defined]
    await sink.write(make_batch(records))  # type: ignore[attr-defined]
    await sink.close(None)  # type: ignore[attr-defined]


def lines(data: bytes) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in data.splitlines() if line]


# -- messages, whole


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("out.db", "sink 'out.db' is not a URL: try sqlite:///out.db, dir:///out or - for stdout"),
        (
            "mysql:///db",
            "sink 'mysql:///db': unknown scheme 'mysql'; known: "
            "dir, duckdb, jsonl, parquet, postgres, postgresql, singer, sqlite",
        ),
        ("jsonl:-?colour=blue", "sink jsonl:-?colour=blue: unknown option(s) colour for jsonl"),
        ("jsonl:-?metadata=maybe", "sink jsonl:-?metadata=maybe: metadata='maybe' should be 1 or 0"),
        ("singer:-?colour=blue", "sink singer:-?colour=blue: unknown option(s) colour for singer"),
        ("dir:out?gzip=maybe", "sink dir:out?gzip=maybe: gzip='maybe' should be 1 or 0"),
        ("dir:out?fsync=sometimes", "sink dir:out?fsync=sometimes: fsync='sometimes' should be 1 or 0"),
        ("dir:out?colour=blue", "sink dir:out?colour=blue: unknown option(s) colour for dir"),
        ("sqlite:x.db?size=9&colour=blue", "sink sqlite:x.db?size=9&colour=blue: unknown option(s) colour, size for sqlite"),
        ("duckdb:x.duckdb?colour=blue", "sink duckdb:x.duckdb?colour=blue: unknown option(s) colour for duckdb"),
        ("sqlite:x.db?synchronous=fast", "sink sqlite: synchronous must be OFF, NORMAL, FULL or EXTRA, not 'fast'"),
        ("sqlite:", "sink sqlite: names no path"),
    ],
)
def test_each_mistake_has_its_exact_line(url: str, message: str) -> None:
    assert refused(url) == message


def test_an_option_given_with_no_value_is_still_an_option() -> None:
    """``?colour=`` is a typo'd option like any other, not silently dropped."""
    assert refused("jsonl:-?colour=") == "sink jsonl:-?colour=: unknown option(s) colour for jsonl"
    assert refused("dir:out?rotate=") == "sink dir:out?rotate=: unknown option(s) rotate for dir"


# -- what each URL builds


async def test_stdout_forms_write_json_lines_to_stdout(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    for url in ("-", "jsonl:-", "jsonl:"):
        await deliver(sink_from_url(url), [{"Id": "a"}])
        assert lines(capsysbinary.readouterr().out) == [{"Id": "a"}], url


async def test_metadata_on_stdout(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    await deliver(sink_from_url("jsonl:-?metadata=1"), [{"Id": "a"}])
    (line,) = lines(capsysbinary.readouterr().out)
    assert line["_streamer"] == {
        "source": "test", "entity_type": "OrderItem", "export_id": "exp", "part": 0, "line": 1, "offset": 0
    }
    await deliver(sink_from_url("-", with_metadata=True), [{"Id": "b"}])
    assert "_streamer" in lines(capsysbinary.readouterr().out)[0]


async def test_jsonl_file_appends_with_or_without_metadata(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(b'{"Id":"kept"}\n')
    await deliver(sink_from_url(f"jsonl:///{out}"), [{"Id": "a"}])
    await deliver(sink_from_url(f"jsonl:///{out}?metadata=yes"), [{"Id": "b"}])
    await deliver(sink_from_url(f"jsonl:///{out}", with_metadata=True), [{"Id": "c"}])
    got = lines(out.read_bytes())
    assert [r["Id"] for r in got] == ["kept", "a", "b", "c"]
    assert ["_streamer" in r for r in got] == [False, False, True, True]


async def test_singer_file_appends_messages(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    out = tmp_path / "out.singer"
    out.write_bytes(b'{"type":"STATE","value":{}}\n')
    await deliver(sink_from_url(f"singer:///{out}"), [{"Id": "a"}])
    assert [m["type"] for m in lines(out.read_bytes())] == ["STATE", "SCHEMA", "RECORD", "STATE"]
    assert capsysbinary.readouterr().out == b""
    for url in ("singer:-", "singer:"):
        await deliver(sink_from_url(url), [{"Id": "a"}])
        assert [m["type"] for m in lines(capsysbinary.readouterr().out)] == ["SCHEMA", "RECORD", "STATE"], url


def test_file_database_options_and_defaults(tmp_path: Path) -> None:
    sqlite = sink_from_url(f"sqlite:///{tmp_path}/a.db")
    assert isinstance(sqlite, SqliteSink)
    assert (sqlite.table_prefix, sqlite.synchronous) == ("", "NORMAL")
    sqlite = sink_from_url(f"sqlite:///{tmp_path}/a.db?synchronous=full&table_prefix=raw_")
    assert (sqlite.table_prefix, sqlite.synchronous) == ("raw_", "FULL")  # type: ignore[attr-defined]
    duck = sink_from_url(f"duckdb:///{tmp_path}/a.duckdb")
    assert isinstance(duck, DuckDBSink)
    assert (duck.table_prefix, duck.memory_limit) == ("", "256MB")
    duck = sink_from_url(f"duckdb:///{tmp_path}/a.duckdb?memory_limit=1GB&table_prefix=raw_")
    assert (duck.path, duck.table_prefix, duck.memory_limit) == (tmp_path / "a.duckdb", "raw_", "1GB")  # type: ignore[attr-defined]


def test_databases_and_dirs_may_go_into_a_directory_yet_to_be_made(tmp_path: Path) -> None:
    """The database and directory sinks make their parents; the file sinks do not."""
    assert isinstance(sink_from_url(f"sqlite:///{tmp_path}/new/a.db"), SqliteSink)
    assert isinstance(sink_from_url(f"duckdb:///{tmp_path}/new/a.duckdb"), DuckDBSink)
    sink = sink_from_url(f"dir:///{tmp_path}/new/deeper/out")
    assert isinstance(sink, DirSink) and sink.directory == tmp_path / "new" / "deeper" / "out"
    missing = tmp_path / "new" / "out.jsonl"
    assert refused(f"jsonl:///{missing}") == (
        f"sink jsonl:///{missing}: cannot create {missing}: directory {missing.parent} does not exist"
    )
    assert refused(f"singer:///{missing}") == (
        f"sink singer:///{missing}: cannot create {missing}: directory {missing.parent} does not exist"
    )


def test_an_existing_directory_is_a_dir_sink(tmp_path: Path) -> None:
    sink = sink_from_url(f"dir:///{tmp_path}")
    assert isinstance(sink, DirSink) and sink.directory == tmp_path


def test_a_database_in_a_read_only_directory_is_refused(tmp_path: Path, read_only: list[Path]) -> None:
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "x.db").write_bytes(b"")
    make_read_only(read_only, tmp_path / "ro")
    db = tmp_path / "ro" / "x.db"
    assert refused(f"sqlite:///{db}") == (
        f"sink sqlite:///{db}: directory {db.parent} is not writable (the database keeps its journal there)"
    )
    # a JSON lines file only appends: its directory need not be writable
    sink = sink_from_url(f"jsonl:///{db}")
    assert sink._target == db  # type: ignore[attr-defined]


# -- ensure_writable, the check behind every output path


def test_ensure_writable_accepts_what_can_be_written(tmp_path: Path) -> None:
    plain = tmp_path / "state.json"
    plain.write_bytes(b"{}")
    plain.chmod(0o644)
    ensure_writable(plain, "--state")
    ensure_writable(plain, "--state", regular_file=True)
    ensure_writable(plain, "--state", with_directory=True)
    ensure_writable(tmp_path, "--sink")  # an existing directory
    ensure_writable(tmp_path / "new.json", "--state")
    ensure_writable(tmp_path / "a" / "b" / "new.json", "--state", creates_parents=True)


def test_ensure_writable_refusals_word_for_word(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "state.json"
    assert refused_path(missing) == f"--state: cannot create {missing}: directory {missing.parent} does not exist"
    assert refused_path(tmp_path, regular_file=True) == f"--state: {tmp_path} is not a regular file"
    assert refused_path(Path("/dev/null"), regular_file=True) == "--state: /dev/null is not a regular file"
    afile = tmp_path / "afile"
    afile.write_bytes(b"")
    under = afile / "x" / "state.json"
    assert refused_path(under, creates_parents=True) == f"--state: cannot create {under}: {afile} is not a directory"


def test_ensure_writable_refuses_read_only_paths(tmp_path: Path, read_only: list[Path]) -> None:
    (tmp_path / "locked.json").write_bytes(b"")
    locked = make_read_only(read_only, tmp_path / "locked.json")
    assert refused_path(locked) == f"--state: {locked} is not writable"
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "old.db").write_bytes(b"")
    ro = make_read_only(read_only, tmp_path / "ro")
    new = ro / "new.json"
    assert refused_path(new) == f"--state: cannot create {new}: directory {ro} is not writable"
    assert refused_path(new, creates_parents=True) == f"--state: cannot create {new}: directory {ro} is not writable"
    assert refused_path(ro / "old.db", with_directory=True) == (
        f"--state: directory {ro} is not writable (the database keeps its journal there)"
    )
    ensure_writable(ro / "old.db", "--state")  # the file itself is writable; its directory is not asked


def test_a_directory_must_be_searchable_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A directory one may write but not enter (mode ``-w-``) cannot take files: both bits are asked."""
    real = os.access
    blocked = tmp_path / "w_only"
    blocked.mkdir()

    def access(path: object, mode: int) -> bool:  # the permissions of a non-root user on a 0o200 directory
        if Path(str(path)) == blocked:
            return not mode & os.X_OK
        return real(path, mode)  # type: ignore[arg-type]

    monkeypatch.setattr(registry.os, "access", access)
    assert refused_path(blocked, "--sink") == f"--sink: {blocked} is not writable"


# -- describe: the URL as logs and errors show it


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("sqlite:///x.db", "sqlite:///x.db"),
        ("dir:///data/out", "dir:///data/out"),
        ("postgresql://loader:s3cret@db/wh", "postgresql://db/wh"),
        # a password the URL pattern of the redaction stops inside (a space) is still cut here
        ("postgresql://loader:se cret@db/wh", "postgresql://db/wh"),
        ("postgresql://loader:p:w x@db/wh", "postgresql://db/wh"),
        ("postgresql://loader:se cret@db/wh?application_name=me@home", "postgresql://db/wh?…"),
        ("postgresql://loader:se cret@db/wh?application_name=a://b", "postgresql://db/wh?…"),
        # a user without a password is not given one; an "@" in the path is not userinfo
        ("postgresql://lo ader@db/wh", "postgresql://lo ader@db/wh"),
        # a user name the redaction cannot parse (a space) is shown as given, the password still masked
        ("postgresql://lo ader:p:w@db/wh", "postgresql://lo ader:***@db/wh"),
        ("sqlite:///backup:1 2@c/x.db", "sqlite:///backup:1 2@c/x.db"),
    ],
)
def test_describe_hides_the_password_only(url: str, shown: str) -> None:
    assert describe(url) == shown
