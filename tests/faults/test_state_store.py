"""The JSON state store: atomic, owner-only, redacted, coalesced, reloadable."""

from __future__ import annotations

import datetime
import os
import re
import stat
import time
from pathlib import Path
from types import SimpleNamespace

import anyio

import orjson
import pytest

from streamer.http.redact import register_secret
from streamer.records import Checkpoint
from streamer.sinks.jsonl import JsonlSink
from streamer.state import JsonFileStateStore, StateError, begin_run
from streamer.state.jsonfile import open_state

pytestmark = pytest.mark.faults


def _doc(path):
    return orjson.loads(path.read_bytes())


async def test_acknowledged_checkpoints_survive_a_reload(tmp_path):
    path = tmp_path / "state.json"
    store = JsonFileStateStore(path, flush_interval=0)
    begin_run(store, None, resume=True)
    await store.acknowledge(Checkpoint("urls/-/0", offset=120, line=3, decoder_state={"header": ["a", "b"]}))
    await store.acknowledge(Checkpoint("urls/-/1", offset=999, line=9, done=True, compressed=True))
    assert _doc(path)["run"]["status"] == "running"
    await store.close(None)
    assert _doc(path)["run"]["status"] == "completed"
    reloaded = JsonFileStateStore(path)
    reloaded.load()
    assert reloaded.checkpoints() == {
        "urls/-/0": Checkpoint("urls/-/0", 120, 3, False, {"header": ["a", "b"]}, False),
        "urls/-/1": Checkpoint("urls/-/1", 999, 9, True, None, True),
    }
    reloaded.release()


async def test_two_live_runs_cannot_share_a_state_file(tmp_path):
    path = tmp_path / "state.json"
    first = JsonFileStateStore(path)
    begin_run(first, None, resume=True)
    with pytest.raises(StateError, match="in use by another streamer run"):
        begin_run(JsonFileStateStore(path), None, resume=True)
    await first.close(None)
    second = JsonFileStateStore(path)
    begin_run(second, None, resume=True)  # free again once the first run closed
    await second.close(None)
    assert stat.S_IMODE((tmp_path / "state.json.lock").stat().st_mode) == 0o600


async def test_state_file_is_created_0600_whatever_the_umask(tmp_path):
    path = tmp_path / "state.json"
    old = os.umask(0)
    try:
        store = JsonFileStateStore(path, flush_interval=0)
        begin_run(store, None, resume=True)
        await store.acknowledge(Checkpoint("k", 1, 1))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # replaced, not rewritten in place: an old world-readable file becomes 0600 too
    path.chmod(0o644)
    await store.acknowledge(Checkpoint("k", 2, 2, done=True))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")], "temporary files left behind"


async def test_writes_are_coalesced_but_part_ends_and_exit_always_save(tmp_path):
    path = tmp_path / "state.json"
    store = JsonFileStateStore(path, flush_interval=3600)
    begin_run(store, None, resume=True)
    saves = store.saves
    for line in range(1, 101):
        await store.acknowledge(Checkpoint("p/-/0", offset=line * 10, line=line))
    assert store.saves == saves, "every batch caused a write despite the flush interval"
    assert _doc(path)["parts"] == {}
    await store.acknowledge(Checkpoint("p/-/1", offset=5, line=1, done=True))
    assert store.saves == saves + 1
    assert _doc(path)["parts"]["p/-/0"]["line"] == 100
    await store.acknowledge(Checkpoint("p/-/0", offset=2000, line=200))
    await store.close(RuntimeError("boom"))
    doc = _doc(path)
    assert doc["parts"]["p/-/0"]["line"] == 200
    assert doc["run"]["status"] == "failed" and "boom" in doc["run"]["error"]


async def test_exports_are_written_through_and_reloaded(tmp_path):
    path = tmp_path / "state.json"
    store = JsonFileStateStore(path)
    begin_run(store, None, resume=True)
    store.exports["mews/OrderItem"] = {"id": "exp-1", "status": "Pending"}
    assert _doc(path)["exports"] == {"mews/OrderItem": {"id": "exp-1", "status": "Pending"}}
    store.remember_export("mews", "Payment", "exp-2")
    await store.close(None)
    again = JsonFileStateStore(path)
    assert again.known_exports("mews") == {"OrderItem": "exp-1", "Payment": "exp-2"}
    begin_run(again, None, resume=True)
    assert again.exports["mews/OrderItem"]["id"] == "exp-1"
    del again.exports["mews/OrderItem"]
    assert list(_doc(path)["exports"]) == ["mews/Payment"]
    await again.close(None)


async def test_resume_false_forgets_the_old_state(tmp_path):
    path = tmp_path / "state.json"
    store = JsonFileStateStore(path, flush_interval=0)
    begin_run(store, None, resume=True)
    store.exports["x"] = {"id": "1"}
    await store.acknowledge(Checkpoint("p/-/0", 10, 1, done=True))
    await store.close(None)
    fresh = JsonFileStateStore(path)
    assert begin_run(fresh, None, resume=False) is None
    assert fresh.checkpoints() == {} and dict(fresh.exports) == {}
    assert _doc(path)["parts"] == {}


async def test_signed_urls_and_tokens_never_reach_the_state_file(tmp_path):
    path = tmp_path / "state.json"
    register_secret("tok_supersecret_123")
    store = JsonFileStateStore(path, flush_interval=0)
    begin_run(store, None, resume=True)
    store.exports["vendor/Thing"] = {
        "id": "e1",
        "url": "https://bucket.example/x.jsonl?X-Amz-Signature=abcdef&sig=zzz",
        "note": "fetched https://h/p?sig=123&expires=9 with tok_supersecret_123",
        "access_token": "anything-at-all",
    }
    await store.close(RuntimeError("GET https://h/f?sig=deadbeef failed for tok_supersecret_123"))
    text = path.read_text()
    for leaked in ("sig=", "X-Amz-Signature", "tok_supersecret_123", "anything-at-all", "deadbeef"):
        assert leaked not in text
    doc = _doc(path)
    assert doc["exports"]["vendor/Thing"]["url"] == "https://bucket.example/x.jsonl?…"
    assert doc["exports"]["vendor/Thing"]["id"] == "e1"


def test_corrupt_or_foreign_state_is_a_clear_error(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("{not json")
    with pytest.raises(StateError, match="not valid JSON"):
        JsonFileStateStore(path).load()
    path.write_text('{"hello": 1}')
    with pytest.raises(StateError, match="not a streamer state"):
        JsonFileStateStore(path).load()


async def test_file_sink_is_rolled_back_to_the_committed_length(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_bytes(b'{"Id":"a"}\n')
    state = tmp_path / "state.json"
    store = JsonFileStateStore(state, flush_interval=0)
    sink = JsonlSink(out)
    begin_run(store, sink, resume=True)
    assert _doc(state)["sink"]["length"] == 11
    await store.close(RuntimeError("killed"))
    # a later, unacknowledged write plus a torn line
    with open(out, "ab") as f:
        f.write(b'{"Id":"b"}\n{"Id":"c')
    resumed = JsonFileStateStore(state)
    begin_run(resumed, JsonlSink(out), resume=True)
    assert out.read_bytes() == b'{"Id":"a"}\n'


async def test_missing_output_refuses_to_resume(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_bytes(b'{"Id":"a"}\n')
    state = tmp_path / "state.json"
    store = JsonFileStateStore(state)
    begin_run(store, JsonlSink(out), resume=True)
    await store.close(None)
    out.write_bytes(b"")
    with pytest.raises(StateError, match="would be lost"):
        begin_run(JsonFileStateStore(state), JsonlSink(out), resume=True)


# --- atomic, durable replacement (issue 18: each of these fails against a one-line bug)


class _Recorder:
    """Logs the file-system calls of a state save, each with the path it touched."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[tuple[str, str]] = []
        real_fsync, real_replace = os.fsync, os.replace

        def fsync(fd: int) -> None:
            self.events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
            real_fsync(fd)

        def replace(src: str, dst: str) -> None:
            self.events.append(("replace", f"{src} -> {dst}"))
            real_replace(src, dst)

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)


async def test_a_save_writes_a_temp_file_fsyncs_it_renames_it_and_fsyncs_the_directory(tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    store = JsonFileStateStore(path, flush_interval=0)
    begin_run(store, None, resume=True)
    first_inode = path.stat().st_ino
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the temp file belongs next to the state file, not in the cwd
    calls = _Recorder(monkeypatch)
    await store.acknowledge(Checkpoint("p/-/0", 10, 1, done=True))

    assert path.stat().st_ino != first_inode, "the state file was rewritten in place, not replaced"
    (file_sync, temp), (rename, what), (dir_sync, directory) = calls.events
    assert (file_sync, rename, dir_sync) == ("fsync", "replace", "fsync")
    assert Path(temp).parent == tmp_path and Path(temp).name.startswith(".state.json.") and temp.endswith(".tmp")
    assert what == f"{temp} -> {path}"
    assert directory == str(tmp_path)
    assert _doc(path)["parts"]["p/-/0"]["done"] is True
    assert sorted(p.name for p in elsewhere.iterdir()) == []
    await store.close(None)


@pytest.mark.parametrize("failing", ["write", "fsync", "replace", "write+unlink", "replace+unlink"])
async def test_a_failed_save_leaves_the_old_document_and_no_temp_file(tmp_path, monkeypatch, failing):
    path = tmp_path / "state.json"
    store = JsonFileStateStore(path, flush_interval=0)
    begin_run(store, None, resume=True)
    await store.acknowledge(Checkpoint("p/-/0", 10, 1))
    before = path.read_bytes()

    def disk_full(*args):
        raise OSError(28, "No space left on device")

    for name in failing.split("+"):
        monkeypatch.setattr(os, name, disk_full)
    with pytest.raises(StateError, match=r"cannot save state to state file .*state\.json: \[Errno 28\] No space left") as info:
        await store.acknowledge(Checkpoint("p/-/0", 20, 2))
    monkeypatch.undo()
    assert isinstance(info.value.__cause__, OSError) and info.value.__cause__.errno == 28
    assert path.read_bytes() == before and _doc(path)["parts"]["p/-/0"]["line"] == 1
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    if "unlink" in failing:  # the clean-up failing too must not hide why the save failed
        assert len(leftovers) == 3 and leftovers[0].startswith(".state.json.") and leftovers[0].endswith(".tmp")
    else:
        assert leftovers == ["state.json", "state.json.lock"]
    store.release()


async def test_the_sink_is_synced_before_the_mark_naming_its_data_is_saved(tmp_path, monkeypatch):
    events: list[tuple[str, object]] = []

    class SyncLoggingSink(JsonlSink):
        async def sync(self) -> None:
            await super().sync()
            events.append(("sync", self._length))

    out, path = tmp_path / "out.jsonl", tmp_path / "state.json"
    store = JsonFileStateStore(path, flush_interval=0)
    sink = SyncLoggingSink(out)
    begin_run(store, sink, resume=True)
    real_write = store.write
    monkeypatch.setattr(store, "write", lambda doc: (events.append(("save", doc["sink"]["length"])), real_write(doc)))
    await sink.open()
    from tests.support.sinks import make_batch

    for n in (1, 2):
        batch = make_batch([{"Id": f"r{n}"}], first_line=n)
        await sink.write(batch)
        await store.acknowledge(batch.checkpoint)
    await sink.close(None)
    await store.close(None)
    assert events[:4] == [("sync", 12), ("save", 12), ("sync", 24), ("save", 24)]
    assert out.read_bytes() == b'{"Id":"r1"}\n{"Id":"r2"}\n'


# --- what the document holds


STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def _stamp(text: str, lower: datetime.datetime, upper: datetime.datetime) -> str:
    assert STAMP.fullmatch(text), text
    moment = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    assert lower <= moment <= upper, f"{text} is not UTC now"
    return text


async def test_the_document_is_sorted_indented_utc_stamped_and_holds_the_run(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Kathmandu")  # +05:45: a local time passed off as UTC shows
    time.tzset()
    try:
        path = tmp_path / "state.json"
        lower = datetime.datetime.now(datetime.timezone.utc)
        store = JsonFileStateStore(path, flush_interval=0)
        begin_run(store, None, resume=True)
        store.remember_export("mews", "OrderItem", "exp-1")
        await store.acknowledge(Checkpoint("p/-/0", 10, 1, done=True))
        await store.close(ValueError("x" * 3000))
        upper = datetime.datetime.now(datetime.timezone.utc)
    finally:
        monkeypatch.undo()
        time.tzset()
    raw = path.read_bytes()
    doc = orjson.loads(raw)
    assert raw == orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"  # people diff it
    run = doc["run"]
    assert doc == {
        "format": "streamer-state",
        "version": 1,
        "updated_at": _stamp(doc["updated_at"], lower, upper),
        "run": {
            "status": "failed",
            "started_at": _stamp(run["started_at"], lower, upper),
            "resumed_from": None,
            "finished_at": _stamp(run["finished_at"], lower, upper),
            "error": ("ValueError: " + "x" * 3000)[:2000],
        },
        "exports": {"mews/OrderItem": {"id": "exp-1", "status": "created", "at": _stamp(
            doc["exports"]["mews/OrderItem"]["at"], lower, upper)}},
        "parts": {"p/-/0": Checkpoint("p/-/0", 10, 1, done=True).to_json()},
        "sink": None,
    }
    assert len(run["error"]) == 2000

    again = JsonFileStateStore(path)
    begin_run(again, None, resume=True)
    assert _doc(path)["run"]["resumed_from"] == "failed"
    await again.close(anyio.get_cancelled_exc_class()())
    assert _doc(path)["run"]["status"] == "interrupted" and "error" not in _doc(path)["run"]


async def test_a_fresh_run_saves_no_mark_and_reopens_the_lock_after_close(tmp_path):
    path = tmp_path / "state.json"
    out = tmp_path / "out.jsonl"
    first = JsonFileStateStore(path)
    begin_run(first, JsonlSink(out), resume=True)
    assert _doc(path)["sink"]["kind"] == "jsonl-file"
    await first.close(None)
    fresh = JsonFileStateStore(path)
    begin_run(fresh, None, resume=False)
    assert _doc(path)["sink"] is None and _doc(path)["run"]["resumed_from"] is None
    await fresh.close(None)
    # a closed store loads (and locks) again when reused
    fresh.load()
    with pytest.raises(StateError, match="in use"):
        JsonFileStateStore(path).load()
    fresh.release()


async def test_saves_follow_the_flush_interval_exactly(tmp_path, monkeypatch):
    clock = [10_000.0]
    monkeypatch.setattr("streamer.state.store.time", SimpleNamespace(monotonic=lambda: clock[0]))
    store = JsonFileStateStore(tmp_path / "state.json", flush_interval=5)
    begin_run(store, None, resume=True)
    saves = store.saves
    await store.acknowledge(Checkpoint("p/-/0", 1, 1))
    clock[0] += 4
    await store.acknowledge(Checkpoint("p/-/0", 2, 2))
    assert store.saves == saves, "saved before the flush interval passed"
    clock[0] += 1
    await store.acknowledge(Checkpoint("p/-/0", 3, 3))
    assert store.saves == saves + 1, "not saved once the flush interval passed"
    await store.flush()
    assert store.saves == saves + 1, "a flush with nothing new wrote again"
    await store.close(None)


def test_malformed_parts_and_exports_are_refused_with_what_is_wrong(tmp_path):
    path = tmp_path / "state.json"
    path.write_bytes(orjson.dumps({"format": "streamer-state", "version": 1, "parts": {"p/-/0": {"offset": "x"}}}))
    with pytest.raises(StateError, match=r"checkpoint of part p/-/0 is malformed: \{'offset': 'x'\}"):
        JsonFileStateStore(path).load()
    store = JsonFileStateStore(tmp_path / "other.json")
    with pytest.raises(TypeError, match="export state must be a mapping, not int"):
        store.exports["x"] = 5  # type: ignore[assignment]


def test_known_exports_need_an_id_and_the_source_prefix(tmp_path):
    store = JsonFileStateStore(tmp_path / "state.json")
    store.load()
    store.exports.data = {"mews/A": {"id": "1"}, "mews/B": {"status": "failed"}, "rebilly/C": {"id": "3"}}
    assert store.known_exports("mews") == {"A": "1"}
    store.release()


async def test_secret_keys_are_masked_in_lists_too(tmp_path):
    path = tmp_path / "state.json"
    store = JsonFileStateStore(path)
    begin_run(store, None, resume=True)
    store.exports["v/T"] = {"id": "e", "api_keys": ["k-one", "k-two"], "access_token": "t-one", "names": ["ok"]}
    await store.close(None)
    assert _doc(path)["exports"]["v/T"] == {"id": "e", "api_keys": ["***", "***"], "access_token": "***", "names": ["ok"]}


def test_open_state_takes_a_store_a_path_or_a_custom_store(tmp_path):
    store = JsonFileStateStore(tmp_path / "s.json")
    assert open_state(None) is None and open_state(store) is store
    by_path = open_state(str(tmp_path / "p.json"))
    assert isinstance(by_path, JsonFileStateStore) and by_path.path == tmp_path / "p.json"
    assert open_state(tmp_path / "q.json").path == tmp_path / "q.json"  # type: ignore[union-attr]
    custom = SimpleNamespace(acknowledge=None, checkpoints=None)
    assert open_state(custom) is custom  # type: ignore[arg-type]
    for half in (SimpleNamespace(acknowledge=None), SimpleNamespace(checkpoints=None)):
        with pytest.raises(TypeError, match="state must be a path or a StateStore, not SimpleNamespace"):
            open_state(half)  # type: ignore[arg-type]


def test_begin_run_works_with_a_store_that_has_only_the_protocol(tmp_path):
    class Minimal:
        def __init__(self) -> None:
            self.calls: list[str] = []

        def load(self) -> None:
            self.calls.append("load")

        def reset(self) -> None:
            self.calls.append("reset")

        def attach_sink(self, sink: object, *, restore: bool) -> None:
            self.calls.append(f"attach restore={restore}")

        def checkpoints(self) -> dict[str, Checkpoint]:
            return {"k": Checkpoint("k", 1, 1)}

    store = Minimal()
    assert begin_run(store, None, resume=True) == {"k": Checkpoint("k", 1, 1)}  # type: ignore[arg-type]
    assert begin_run(store, None, resume=False) is None  # type: ignore[arg-type]
    assert store.calls == ["load", "attach restore=True", "load", "reset", "attach restore=False"]


async def test_urls_without_a_query_are_kept_as_written(tmp_path):
    path = tmp_path / "state.json"
    store = JsonFileStateStore(path)
    begin_run(store, None, resume=True)
    message = "GET https://host.example/plain.jsonl failed, see https://docs.example/retry#limits"
    await store.close(RuntimeError(message))
    assert _doc(path)["run"]["error"] == f"RuntimeError: {message}"


async def test_reset_and_mark_running_are_saved_by_the_next_flush(tmp_path):
    path = tmp_path / "state.json"
    store = JsonFileStateStore(path, flush_interval=0)
    begin_run(store, None, resume=True)
    await store.acknowledge(Checkpoint("p/-/0", 10, 1, done=True))
    await store.close(None)
    again = JsonFileStateStore(path, flush_interval=0)
    again.load()
    again.reset()
    await again.flush()
    assert _doc(path)["parts"] == {} and _doc(path)["run"] == {}
    again.mark_running()
    await again.flush()
    assert _doc(path)["run"]["status"] == "running"
    again.release()


def test_state_errors_say_what_and_where(tmp_path):
    missing_dir = tmp_path / "nowhere" / "state.json"
    with pytest.raises(StateError, match=r"^cannot create the lock file .*nowhere/state\.json\.lock: No such file or directory$"):
        JsonFileStateStore(missing_dir).load()
    directory = tmp_path / "state.json"
    directory.mkdir()
    with pytest.raises(StateError, match=r"^cannot read state file .*state\.json: Is a directory$"):
        JsonFileStateStore(directory).load()
    newer = tmp_path / "newer.json"
    newer.write_bytes(orjson.dumps({"format": "streamer-state", "version": 2}))
    with pytest.raises(StateError, match=r"^state file .*newer\.json has state version 2; this streamer reads 1$"):
        JsonFileStateStore(newer).load()
    held = JsonFileStateStore(tmp_path / "held.json")
    held.load()
    with pytest.raises(StateError, match=r"in use by another streamer run \(lock .*held\.json\.lock\); wait for it to finish or stop it first$"):
        JsonFileStateStore(tmp_path / "held.json").load()
    held.release()


async def test_a_new_store_has_saved_nothing_and_a_second_load_keeps_what_is_in_memory(tmp_path):
    path = tmp_path / "state.json"
    store = JsonFileStateStore(path, flush_interval=3600)
    assert store.saves == 0
    assert JsonFileStateStore(tmp_path / "x.json").flush_interval == 0.5
    await store.flush()  # nothing acknowledged: nothing to write
    assert store.saves == 0 and not path.exists()
    begin_run(store, None, resume=True)
    assert store.saves == 1
    await store.acknowledge(Checkpoint("p/-/0", 10, 1))  # coalesced: in memory only
    store.load()
    assert store.checkpoints() == {"p/-/0": Checkpoint("p/-/0", 10, 1)}
    await store.close(None)


def test_a_failed_load_can_be_retried_once_the_file_is_fixed(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("{torn")
    store = JsonFileStateStore(path)
    with pytest.raises(StateError, match="not valid JSON"):
        store.load()
    other = JsonFileStateStore(path)  # the failed load released the lock
    path.write_bytes(orjson.dumps({"format": "streamer-state", "version": 1, "parts": {"k": Checkpoint("k", 5, 1).to_json()}}))
    other.load()
    other.release()
    store.load()
    assert store.checkpoints() == {"k": Checkpoint("k", 5, 1)}
    store.release()
