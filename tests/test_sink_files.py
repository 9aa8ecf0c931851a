"""The file sinks' promises, byte for byte: JSONL lines and marks, the ``dir`` layout and state, foreign files.

Exactly-once for files rests on lengths: the JSONL mark is the file's
length after the acknowledged batches, the ``dir`` state names every file's
committed size, and both cut the output back to it.  Durability rests on
``fsync`` being called where it is promised.  These tests assert the exact
lengths, documents, fsync calls and messages, so that an off-by-one or a
skipped fsync fails.
"""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import anyio
import orjson
import pytest

from streamer.errors import ConfigError
from streamer.sinks.dbfiles import open_error, refuse_foreign_file
from streamer.sinks.directory import STATE_NAME, DirSink
from streamer.sinks.jsonl import JsonlSink
from streamer.sinks.sqlite import SqliteSink
from streamer.state.store import StateError
from tests.support.sinks import make_batch


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The file descriptors ``os.fsync`` was called on (the call still happens)."""
    calls: list[int] = []
    real = os.fsync

    def recording(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", recording)
    return calls


# ------------------------------------------------------------------ JSONL


async def test_jsonl_lines_and_counts(tmp_path: Path, fsyncs: list[int]) -> None:
    path = tmp_path / "out.jsonl"
    sink = JsonlSink(path)
    await sink.open()
    await sink.write(make_batch([{"Id": "a"}, {"Id": "b"}]))
    await sink.write(make_batch([], first_line=3))  # an empty batch writes nothing
    await sink.close(None)
    assert path.read_bytes() == b'{"Id":"a"}\n{"Id":"b"}\n'
    assert sink.records == 2
    assert fsyncs == []  # fsync=False and no state store: none promised


async def test_jsonl_with_metadata(tmp_path: Path) -> None:
    stream = io.BytesIO()
    sink = JsonlSink(stream, with_metadata=True)
    await sink.open()
    await sink.write(make_batch([{"Id": "a"}, {"Id": "b", "n": 1}], index=3, first_line=5))
    await sink.close(None)
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    meta = {"source": "test", "entity_type": "OrderItem", "export_id": "exp", "part": 3}
    assert lines == [
        {"Id": "a", "_streamer": {**meta, "line": 5, "offset": 400}},
        {"Id": "b", "n": 1, "_streamer": {**meta, "line": 6, "offset": 500}},
    ]
    assert stream.getvalue().endswith(b"}\n")
    assert not stream.closed  # a stream it was given is flushed, not closed


async def test_jsonl_fsync_after_every_write_when_asked(tmp_path: Path, fsyncs: list[int]) -> None:
    sink = JsonlSink(tmp_path / "out.jsonl", fsync=True)
    await sink.open()
    await sink.write(make_batch([{"Id": "a"}]))
    await sink.write(make_batch([{"Id": "b"}], first_line=2))
    assert len(fsyncs) == 2
    await sink.close(None)
    assert len(fsyncs) == 2  # no mark was taken: closing needs no extra fsync


async def test_jsonl_mark_sync_and_close(tmp_path: Path, fsyncs: list[int]) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"Id":"old"}\n')
    sink = JsonlSink(path)
    assert sink.commit_mark() == {"kind": "jsonl-file", "path": str(path.resolve()), "length": 13}  # before open
    await sink.open()
    await sink.write(make_batch([{"Id": "a"}]))
    assert sink.commit_mark() == {"kind": "jsonl-file", "path": str(path.resolve()), "length": 13 + 11}
    await sink.sync()
    assert len(fsyncs) == 1
    await sink.close(None)
    assert len(fsyncs) == 2  # a committing sink fsyncs what it closes


async def test_jsonl_mark_of_a_file_not_yet_made_and_of_streams(tmp_path: Path) -> None:
    path = tmp_path / "later.jsonl"
    assert JsonlSink(path).commit_mark() == {"kind": "jsonl-file", "path": str(path.resolve()), "length": 0}
    assert JsonlSink(io.BytesIO()).commit_mark() is None
    assert JsonlSink("-").commit_mark() is None
    assert JsonlSink().commit_mark() is None


async def test_jsonl_sync_of_a_stream_does_nothing(fsyncs: list[int]) -> None:
    sink = JsonlSink(io.BytesIO())
    await sink.open()
    await sink.sync()
    assert fsyncs == []


async def test_jsonl_restore_cuts_back_to_the_mark(tmp_path: Path, fsyncs: list[int]) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"Id":"a"}\n{"Id":"torn')
    sink = JsonlSink(path)
    sink.restore({"kind": "jsonl-file", "path": str(path.resolve()), "length": 11})
    assert path.read_bytes() == b'{"Id":"a"}\n'
    assert len(fsyncs) == 1  # the cut is durable before new lines follow it
    await sink.open()
    await sink.write(make_batch([{"Id": "b"}], first_line=2))
    await sink.close(None)
    assert path.read_bytes() == b'{"Id":"a"}\n{"Id":"b"}\n'
    assert len(fsyncs) == 2  # restored: the sink is committing, so close fsyncs


async def test_jsonl_restore_at_the_exact_length_touches_nothing(tmp_path: Path, fsyncs: list[int]) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"Id":"a"}\n')
    JsonlSink(path).restore({"kind": "jsonl-file", "path": str(path.resolve()), "length": 11})
    assert path.read_bytes() == b'{"Id":"a"}\n' and fsyncs == []


async def test_jsonl_restore_refuses_a_file_shorter_than_the_mark(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(b"{}\n")
    with pytest.raises(StateError) as raised:
        JsonlSink(path).restore({"kind": "jsonl-file", "path": str(path.resolve()), "length": 4})
    assert str(raised.value) == (
        f"output file {path} has 3 bytes but the state says 4 were delivered to it; "
        "records would be lost — restore the file or start over without the state"
    )
    missing = tmp_path / "gone.jsonl"
    with pytest.raises(StateError, match="has 0 bytes but the state says 1 were"):
        JsonlSink(missing).restore({"kind": "jsonl-file", "path": str(missing.resolve()), "length": 1})


async def test_jsonl_restore_ignores_other_marks_and_other_files(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"Id":"a"}\n')
    JsonlSink(path).restore({"kind": "dir", "path": str(path.resolve()), "length": 0})
    JsonlSink(path).restore({"kind": "jsonl-file", "path": str((tmp_path / "other.jsonl").resolve()), "length": 0})
    JsonlSink(io.BytesIO()).restore({"kind": "jsonl-file", "path": str(path.resolve()), "length": 0})
    assert path.read_bytes() == b'{"Id":"a"}\n'
    JsonlSink(path).restore({"kind": "jsonl-file", "path": str(path.resolve())})  # no length: the start
    assert path.read_bytes() == b""


async def test_jsonl_write_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    sink = JsonlSink(path)
    await sink.open()

    class Full(io.RawIOBase):
        def write(self, data: object) -> int:
            raise OSError(28, "No space left on device")

        def flush(self) -> None:
            return None

    sink._stream.close()  # type: ignore[union-attr]
    sink._stream = Full()  # type: ignore[assignment]
    with pytest.raises(OSError) as raised:
        await sink.write(make_batch([{"Id": "a"}]))
    assert raised.value.filename == str(path)
    assert sink.records == 0
    stream = JsonlSink(io.BytesIO())
    await stream.open()
    stream._stream = Full()  # type: ignore[assignment]
    with pytest.raises(OSError) as raised:
        await stream.write(make_batch([{"Id": "a"}]))
    assert raised.value.filename is None  # a stream has no name to give


async def test_jsonl_close_twice_and_a_broken_pipe(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path / "out.jsonl")
    await sink.open()
    await sink.close(None)
    await sink.close(None)  # closing again is a no-op

    class Gone(io.BytesIO):
        def flush(self) -> None:
            raise BrokenPipeError

    piped = JsonlSink(Gone())
    await piped.open()
    await piped.close(None)  # a reader that went away is not an error at the end


# ------------------------------------------------------------------ dir


def _state(directory: Path) -> dict:  # type: ignore[type-arg]
    return orjson.loads((directory / STATE_NAME).read_bytes())


async def test_dir_state_document_after_each_batch(tmp_path: Path, fsyncs: list[int]) -> None:
    sink = DirSink(tmp_path)
    await sink.open()
    first = make_batch([{"Id": "a"}, {"Id": "b"}])
    await sink.write(first)
    assert _state(tmp_path) == {
        "gzip": False,
        "files": {"order_item": {"seq": 0, "size": 22}},
        "checkpoints": {"test/exp/0": {"offset": 200, "line": 2, "done": False}},
    }
    done = make_batch([], first_line=3, done=True)
    await sink.write(done)
    assert _state(tmp_path)["checkpoints"]["test/exp/0"]["done"] is True
    assert _state(tmp_path)["files"] == {"order_item": {"seq": 0, "size": 22}}
    assert sink.records == 2
    await sink.close(None)
    assert (tmp_path / "order_item-00000.jsonl").read_bytes() == b'{"Id":"a"}\n{"Id":"b"}\n'
    assert not (tmp_path / f".{STATE_NAME}.tmp").exists()
    assert fsyncs == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [STATE_NAME, "order_item-00000.jsonl"]


async def test_dir_bookmarks_go_into_the_state_with_their_batch(tmp_path: Path) -> None:
    sink = DirSink(tmp_path)
    await sink.open()
    batch = make_batch([{"Id": "a"}], done=True)
    batch.bookmarks = {"mews/OrderItem": {"updated": "2026-01-01T00:00:00Z"}}
    await sink.write(batch)
    await sink.close(None)
    assert _state(tmp_path)["bookmarks"] == {"mews/OrderItem": {"updated": "2026-01-01T00:00:00Z"}}
    assert await DirSink(tmp_path).load_bookmarks() == {"mews/OrderItem": {"updated": "2026-01-01T00:00:00Z"}}
    reopened = DirSink(tmp_path)
    await reopened.open()
    await reopened.write(make_batch([{"Id": "b"}], index=1))
    await reopened.close(None)
    assert _state(tmp_path)["bookmarks"] == {"mews/OrderItem": {"updated": "2026-01-01T00:00:00Z"}}  # kept


async def test_dir_fsyncs_data_and_state_when_asked(tmp_path: Path, fsyncs: list[int]) -> None:
    sink = DirSink(tmp_path, fsync=True, rotate_bytes=15)
    await sink.open()
    await sink.write(make_batch([{"Id": "a"}]))  # data, then the state's temp file
    assert len(fsyncs) == 2
    await sink.write(make_batch([{"Id": "b"}], first_line=2))  # rotation: the old file, the new one, the state
    assert len(fsyncs) == 5
    await sink.close(None)
    assert len(fsyncs) == 6  # the open file once more at close


def _open_descriptors(path: Path) -> int:
    """How many of this process's file descriptors are open on ``path``."""
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if os.path.realpath(fd) == str(path.resolve()))


async def test_dir_keeps_one_handle_per_file(tmp_path: Path) -> None:
    sink = DirSink(tmp_path)
    await sink.open()
    for line in range(1, 4):
        await sink.write(make_batch([{"Id": f"r{line}"}], first_line=line))
    assert _open_descriptors(tmp_path / "order_item-00000.jsonl") == 1
    with anyio.CancelScope() as scope:
        scope.cancel()  # a cancelled run still closes its files
        await sink.close(None)
    assert _open_descriptors(tmp_path / "order_item-00000.jsonl") == 0


async def test_dir_rotates_before_a_batch_that_would_pass_the_limit(tmp_path: Path) -> None:
    sink = DirSink(tmp_path, rotate_bytes=22)
    await sink.open()
    await sink.write(make_batch([{"Id": "a"}]))  # 11 bytes
    await sink.write(make_batch([{"Id": "b"}], first_line=2))  # 22: exactly the limit, same file
    await sink.write(make_batch([{"Id": "c"}], first_line=3))  # 33 would pass it: a new file
    await sink.write(make_batch([{"Id": "d", "pad": "x" * 40}], first_line=4))  # larger than the limit alone
    await sink.close(None)
    assert (tmp_path / "order_item-00000.jsonl").read_bytes() == b'{"Id":"a"}\n{"Id":"b"}\n'
    assert (tmp_path / "order_item-00001.jsonl").read_bytes() == b'{"Id":"c"}\n'
    assert (tmp_path / "order_item-00002.jsonl").stat().st_size == 60
    assert _state(tmp_path)["files"] == {"order_item": {"seq": 2, "size": 60}}


async def test_dir_gzip_members_and_names(tmp_path: Path) -> None:
    sink = DirSink(tmp_path, gzip=True, compresslevel=1)
    assert sink.file_path("payment", 12) == tmp_path / "payment-00012.jsonl.gz"
    assert DirSink(tmp_path).file_path("payment", 3) == tmp_path / "payment-00003.jsonl"
    await sink.open()
    first = make_batch([{"Id": "a"}])
    await sink.write(first)
    await sink.write(make_batch([{"Id": "b"}], first_line=2))
    size = (tmp_path / "order_item-00000.jsonl.gz").stat().st_size
    await sink.write(make_batch([], first_line=3, done=True))  # an empty batch adds no (empty) member
    await sink.close(None)
    data = (tmp_path / "order_item-00000.jsonl.gz").read_bytes()
    assert len(data) == size == _state(tmp_path)["files"]["order_item"]["size"]
    one = gzip.compress(b'{"Id":"a"}\n', compresslevel=1, mtime=0)
    assert data.startswith(one)  # one member per batch, with no timestamp
    assert gzip.decompress(data) == b'{"Id":"a"}\n{"Id":"b"}\n'
    assert _state(tmp_path)["gzip"] is True


async def test_dir_roll_back_cuts_the_current_file_only(tmp_path: Path) -> None:
    sink = DirSink(tmp_path, rotate_bytes=15)
    await sink.open()
    await sink.write(make_batch([{"Id": "a"}]))
    await sink.write(make_batch([{"Id": "b"}], first_line=2))  # rotated: file 1 is current
    await sink.close(None)
    with open(tmp_path / "order_item-00000.jsonl", "ab") as f:
        f.write(b"extra")  # an older, finished file: not the state's to cut
    with open(tmp_path / "order_item-00001.jsonl", "ab") as f:
        f.write(b'{"Id":"gh')
    (tmp_path / "order_item-00002.jsonl").write_bytes(b"x")
    (tmp_path / "order_item-1.jsonl").write_bytes(b"not a name of ours")
    await DirSink(tmp_path, rotate_bytes=15).open()
    assert (tmp_path / "order_item-00000.jsonl").read_bytes() == b'{"Id":"a"}\nextra'
    assert (tmp_path / "order_item-00001.jsonl").read_bytes() == b'{"Id":"b"}\n'
    assert not (tmp_path / "order_item-00002.jsonl").exists()
    assert (tmp_path / "order_item-1.jsonl").exists()


async def test_dir_refusals(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as raised:
        DirSink(tmp_path, rotate_bytes=0)
    assert str(raised.value) == "rotate_bytes must be positive, not 0"
    assert DirSink(tmp_path, rotate_bytes=1).rotate_bytes == 1
    (tmp_path / STATE_NAME).write_bytes(b"{not json")
    with pytest.raises(ConfigError) as error:
        await DirSink(tmp_path).open()
    assert str(error.value).startswith(f"{tmp_path / STATE_NAME} is not valid JSON (")
    assert str(error.value).endswith("); delete the directory to start over")
    for stored, wanted, held in ((b"false", True, "plain"), (b"true", False, "gzipped")):
        (tmp_path / STATE_NAME).write_bytes(b'{"gzip": %s}' % stored)
        with pytest.raises(ConfigError) as error:
            await DirSink(tmp_path, gzip=wanted).open()
        assert str(error.value) == (
            f"{tmp_path} holds {held} output of an earlier run; resume it with the same gzip setting or use a new directory"
        )


async def test_dir_new_directory_and_repr(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    sink = DirSink(target, gzip=True, rotate_bytes=10)
    assert repr(sink) == f"DirSink({str(target)!r}, gzip=True, rotate_bytes=10)"
    assert await sink.load_checkpoints() == {} and await sink.load_bookmarks() == {}
    await sink.open()
    assert target.is_dir()
    await sink.close(None)
    assert sink.state_path == target / STATE_NAME
    assert DirSink(tmp_path).compresslevel == 5 and DirSink(tmp_path).fsync is False


# ------------------------------------------------------------------ foreign database files


def test_foreign_files_are_refused_before_connecting(tmp_path: Path) -> None:
    refuse_foreign_file(tmp_path / "absent.db", backend="SQLite", magic=b"SQLite format 3\0")
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    refuse_foreign_file(empty, backend="SQLite", magic=b"SQLite format 3\0")
    good = tmp_path / "good.duckdb"
    good.write_bytes(b"12345678DUCK" + b"\0" * 20)
    refuse_foreign_file(good, backend="DuckDB", magic=b"DUCK", offset=8)
    with pytest.raises(ConfigError) as raised:
        refuse_foreign_file(tmp_path, backend="SQLite", magic=b"S")
    assert str(raised.value) == f"SQLite database {tmp_path} is a directory: name a file inside it"
    foreign = tmp_path / "notes.db"
    foreign.write_bytes(b"12345678DUCX and more")
    with pytest.raises(ConfigError) as raised:
        refuse_foreign_file(foreign, backend="DuckDB", magic=b"DUCK", offset=8)
    assert str(raised.value) == (
        f"{foreign} exists and is not a DuckDB database (no DuckDB header); "
        "refusing to write into it: name a new file or an existing database"
    )
    short = tmp_path / "short.db"
    short.write_bytes(b"SQLite")
    with pytest.raises(ConfigError, match="is not a SQLite database"):
        refuse_foreign_file(short, backend="SQLite", magic=b"SQLite format 3\0")


def test_unreadable_and_special_database_paths(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        refuse_foreign_file(Path("/dev/null"), backend="SQLite", magic=b"S")
    assert str(raised.value) == "SQLite database /dev/null is not a regular file"
    blocked = tmp_path / "file" / "below.db"
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(ConfigError) as raised:
        refuse_foreign_file(blocked, backend="SQLite", magic=b"S")
    assert str(raised.value) == f"SQLite database {blocked}: Not a directory"
    if os.geteuid() != 0:  # root reads a file whatever its mode
        locked = tmp_path / "locked.db"
        locked.write_bytes(b"x")
        locked.chmod(0)
        with pytest.raises(ConfigError) as raised:
            refuse_foreign_file(locked, backend="SQLite", magic=b"S")
        assert str(raised.value) == f"SQLite database {locked}: cannot read it: Permission denied"


def test_open_error_is_one_line() -> None:
    error = open_error(Path("/x/out.db"), "SQLite", RuntimeError("unable to open\n   database file"))
    assert str(error) == "cannot open the SQLite database /x/out.db: unable to open database file"
    assert str(open_error(Path("o.db"), "DuckDB", RuntimeError())) == "cannot open the DuckDB database o.db: RuntimeError"


def test_sqlite_synchronous_setting(tmp_path: Path) -> None:
    assert SqliteSink(tmp_path / "a.db", layout="json").synchronous == "NORMAL"
    assert SqliteSink(tmp_path / "a.db", layout="json", synchronous="full").synchronous == "FULL"
    for value in ("off", "EXTRA"):
        assert SqliteSink(tmp_path / "a.db", layout="json", synchronous=value).synchronous == value.upper()
    with pytest.raises(ValueError) as raised:
        SqliteSink(tmp_path / "a.db", layout="json", synchronous="sometimes")
    assert str(raised.value) == "synchronous must be OFF, NORMAL, FULL or EXTRA, not 'sometimes'"
    conn = SqliteSink(tmp_path / "a.db", layout="json", synchronous="FULL")._connect()
    try:
        assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.isolation_level is None  # BEGIN/COMMIT are the sink's, one per batch
    finally:
        conn.close()
    assert repr(SqliteSink(tmp_path / "a.db", layout="json")) == f"SqliteSink({str(tmp_path / 'a.db')!r})"
