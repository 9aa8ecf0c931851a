"""The JSON state store: atomic, owner-only, redacted, coalesced, reloadable."""

from __future__ import annotations

import os
import stat

import orjson
import pytest

from streamer.http.redact import register_secret
from streamer.records import Checkpoint
from streamer.sinks.jsonl import JsonlSink
from streamer.state import JsonFileStateStore, StateError, begin_run

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
