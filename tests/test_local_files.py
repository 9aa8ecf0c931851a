"""Local files as sources: paths and file:// URLs, same decoding, checkpoints by byte offset."""

from __future__ import annotations

import gzip
import hashlib
import os

import orjson
import pytest

from streamer import JsonlSink, PartChangedError, PartError, StreamConfig, UrlSource, run, stream_urls
from tests.support.faults import DyingFileSink, SinkDied

pytestmark = pytest.mark.timeout(30)

LINES = [b'{"Id":"%05d","v":"%s"}\n' % (i, hashlib.sha256(b"%d" % i).hexdigest().encode()) for i in range(40000)]
BODY = b"".join(LINES)
IDS = [f"{i:05d}" for i in range(40000)]  # 3.7 MB, 2.1 MB gzipped: several chunks and batches
CONFIG = StreamConfig(batch_size=100)


def ids_in(path) -> list[str]:
    return [orjson.loads(line)["Id"] for line in path.read_bytes().splitlines()]


@pytest.mark.parametrize("how", ["relative-path", "file-url", "gzip-path"])
async def test_a_local_file_streams_like_a_url(tmp_path, monkeypatch, how):
    name = "export.jsonl.gz" if how == "gzip-path" else "export.jsonl"
    (tmp_path / name).write_bytes(gzip.compress(BODY) if how == "gzip-path" else BODY)
    monkeypatch.chdir(tmp_path)
    url = (tmp_path / name).as_uri() if how == "file-url" else f"./{name}"
    async with stream_urls([url]) as records:
        got = [r.data["Id"] async for r in records]
    assert got == IDS
    assert records.stats.bytes == (tmp_path / name).stat().st_size


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
async def test_a_crashed_replay_resumes_at_its_checkpoint_exactly_once(tmp_path, gz):
    source_file = tmp_path / ("export.jsonl.gz" if gz else "export.jsonl")
    source_file.write_bytes(gzip.compress(BODY) if gz else BODY)
    out, state = tmp_path / "out.jsonl", tmp_path / "state.json"
    with pytest.raises(SinkDied):
        await run(UrlSource([source_file]), DyingFileSink(out, die_at=2, after_write=True), config=CONFIG, state=state)
    first = ids_in(out)
    assert 0 < len(first) < len(IDS)
    stats = await run(UrlSource([source_file]), JsonlSink(out), config=CONFIG, state=state)
    assert ids_in(out) == IDS
    assert stats.records < len(IDS), "the rerun resumed, it did not start over"
    part = next(iter(orjson.loads(state.read_bytes())["parts"].values()))
    assert part["done"] and part["offset"] == len(BODY)


async def test_a_file_rewritten_since_its_checkpoint_is_refused(tmp_path):
    source_file = tmp_path / "export.jsonl"
    source_file.write_bytes(BODY)
    out, state = tmp_path / "out.jsonl", tmp_path / "state.json"
    with pytest.raises(SinkDied):
        await run(UrlSource([source_file]), DyingFileSink(out, die_at=2, after_write=False), config=CONFIG, state=state)
    source_file.write_bytes(BODY.replace(b'"v":"', b'"v":"2'))
    os.utime(source_file, ns=(1, 1))
    with pytest.raises(PartChangedError, match="file changed since it was first read"):
        await run(UrlSource([source_file]), JsonlSink(out), config=CONFIG, state=state)


async def test_a_missing_file_is_one_clear_line(tmp_path):
    with pytest.raises(PartError, match=r"part 0 \(nope.jsonl\): no such file: .*nope.jsonl$") as info:
        await run(UrlSource([tmp_path / "nope.jsonl"]), JsonlSink(tmp_path / "o.jsonl"))
    assert "\n" not in str(info.value)


async def test_a_saved_html_page_is_not_data(tmp_path):
    page = tmp_path / "export.csv"
    page.write_bytes(b"\n<!DOCTYPE html><html><title>Login</title></html>")
    with pytest.raises(PartError, match="HTML page"):
        await run(UrlSource([page], format="csv"), JsonlSink(tmp_path / "o.jsonl"))
