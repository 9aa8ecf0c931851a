"""Engine behaviours the mutation run of streamer/engine found unguarded (docs/testing.md, "engine/").

Counters a summary or a resume depends on (bytes per part and per run, the
retry count), the identity a checkpoint carries when the server gives only a
``Last-Modified``, the retry log line, and which URLs are taken for gzip.
"""

from __future__ import annotations

import logging

import pytest
from aiohttp import web

from streamer.engine.config import StreamConfig
from streamer.engine.download import _looks_gzipped
from streamer.engine.runner import run_export
from streamer.providers.urls import UrlSource
from streamer.records import Batch, Checkpoint
from streamer.simulator import Simulator
from streamer.simulator.faults import FaultPlan
from streamer.sinks.callback import CallbackSink
from tests.support.faults import SimSource
from tests.support.local_server import serve_locally


def test_only_gz_and_gzip_paths_look_gzipped() -> None:
    assert _looks_gzipped("https://h/export/part-1.jsonl.gz?sig=x")
    assert _looks_gzipped("https://h/export/part-1.jsonl.gzip")
    assert not _looks_gzipped("https://h/export/part-1.jsonl")
    assert not _looks_gzipped("https://h/export/part-1.GZ.jsonl")
    assert not _looks_gzipped("https://h/export/gz/part-1.jsonl?name=a.gz")  # the query is not the path
    assert not _looks_gzipped("http://[::1/x.gz")  # unparseable: not taken for gzip


async def test_bytes_are_counted_per_part_and_per_run_and_checkpoints_carry_the_length(sim: Simulator) -> None:
    export = sim.add_export("OrderItem", records=900, parts=2)
    checkpoints: list[Checkpoint] = []
    stats = await run_export(
        SimSource(sim, [export]), CallbackSink(lambda b: checkpoints.append(b.checkpoint)),
        config=StreamConfig(batch_size=100),
    )
    sizes = [f.size for f in export.files]
    assert stats.bytes == sum(sizes)
    assert sorted(p.bytes for p in stats.parts.values()) == sorted(sizes)
    by_part = {c.part_key: c for c in checkpoints if c.done}
    assert sorted(c.length for c in by_part.values()) == sorted(sizes)
    assert all(c.length == by_part[c.part_key].length and c.etag == by_part[c.part_key].etag for c in checkpoints)


async def test_a_checkpoint_keeps_last_modified_when_the_server_gives_no_etag() -> None:
    body = b'{"Id": "a"}\n{"Id": "b"}\n'
    stamp = "Wed, 02 Dec 2026 10:00:00 GMT"

    async def part(request: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Last-Modified": stamp, "Content-Type": "application/x-ndjson"})

    app = web.Application()
    app.router.add_get("/part.jsonl", part)
    checkpoints: list[Checkpoint] = []
    async with serve_locally(app, shutdown_timeout=0.2) as base_url:
        stats = await run_export(UrlSource([f"{base_url}/part.jsonl"]), CallbackSink(lambda b: checkpoints.append(b.checkpoint)))
    assert stats.records == 2
    assert checkpoints and all(c.last_modified == stamp and c.etag is None and c.length == len(body) for c in checkpoints)


async def test_each_retry_is_counted_and_logged_with_the_part_the_reason_and_the_offset(
    sim: Simulator, faults: FaultPlan, caplog: pytest.LogCaptureFixture
) -> None:
    export = sim.add_export("OrderItem", records=1200, parts=1)
    size = export.files[0].size
    faults.drop_at[f"{export.id}/0"] = [size // 3, 2 * size // 3]
    seen: list[Batch] = []
    with caplog.at_level(logging.WARNING, logger="streamer.engine"):
        stats = await run_export(SimSource(sim, [export]), CallbackSink(seen.append))
    assert stats.records == 1200 and faults.injected["drop"] == 2
    (part,) = stats.parts.values()
    assert part.retries == 2 and stats.retries == 2
    lines = [r.getMessage() for r in caplog.records if "resuming at byte" in r.getMessage()]
    assert len(lines) == 2
    for line, offset in zip(lines, (size // 3, 2 * size // 3), strict=True):
        assert line.startswith(f"{part.name}: ")
        assert f"; resuming at byte {offset} in " in line and line.endswith("s")
        reason = line[len(part.name) + 2:line.index("; resuming")]
        assert reason and not reason.startswith(part.name) and reason != "None"
