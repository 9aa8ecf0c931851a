"""run_export's hooks: progress ticks, a final report, checkpoints after each accepted batch.

A broken metrics hook must never fail an export (it is logged), the last
report must carry the finished run, and ``on_checkpoint`` sees exactly the
positions the sink accepted, in order, sync or async.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

import anyio
import pytest
from aiohttp import web

from streamer.engine.config import StreamConfig
from streamer.engine.runner import run_export
from streamer.engine.stats import RunStats
from streamer.http.session import HTTPConfig
from streamer.records import Batch, Checkpoint, PartInfo
from streamer.simulator import Simulator
from streamer.sinks.callback import CallbackSink
from streamer.providers.urls import UrlSource
from tests.support.faults import SimSource
from tests.support.local_server import serve_locally


async def test_progress_ticks_then_a_final_report_of_the_finished_run(sim: Simulator) -> None:
    export = sim.add_export("OrderItem", records=400, parts=2)
    seen: list[tuple[int, float | None]] = []
    reported: list[RunStats] = []

    async def slow(batch: Batch) -> None:
        await anyio.sleep(0.02)

    def on_progress(stats: RunStats) -> None:
        seen.append((stats.records, stats.finished))
        reported.append(stats)

    stats = await run_export(
        SimSource(sim, [export]), CallbackSink(slow), config=StreamConfig(batch_size=50),
        on_progress=on_progress, progress_interval=0.01,
    )
    assert stats.records == 400
    assert len(seen) >= 3  # ticks while running, and the final report
    assert all(s is stats for s in reported)
    assert seen[-1] == (400, stats.finished) and stats.finished is not None
    assert all(finished is None for _, finished in seen[:-1])  # only the last report is of a finished run
    assert [records for records, _ in seen] == sorted(records for records, _ in seen)


async def test_a_broken_progress_hook_is_logged_and_the_export_goes_on(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    export = sim.add_export("OrderItem", records=120, parts=1)
    calls: list[int] = []

    def broken(stats: RunStats) -> None:
        calls.append(stats.records)
        raise RuntimeError("metrics down")

    with caplog.at_level(logging.ERROR, logger="streamer.engine"):
        stats = await run_export(SimSource(sim, [export]), CallbackSink(lambda b: None), on_progress=broken)
    assert stats.records == 120
    assert calls and calls[-1] == 120
    failures = [r for r in caplog.records if r.name == "streamer.engine"]
    assert failures and all(r.getMessage() == "on_progress hook failed (the export goes on)" for r in failures)
    assert isinstance(failures[-1].exc_info[1], RuntimeError)  # type: ignore[index]


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_on_checkpoint_sees_each_accepted_position_in_order(sim: Simulator, asynchronous: bool) -> None:
    export = sim.add_export("OrderItem", records=300, parts=1)
    accepted: list[Checkpoint] = []
    positions: list[Checkpoint] = []

    def sink(batch: Batch) -> None:
        accepted.append(batch.checkpoint)

    def sync_hook(checkpoint: Checkpoint) -> None:
        positions.append(checkpoint)

    async def async_hook(checkpoint: Checkpoint) -> None:
        await anyio.sleep(0)
        positions.append(checkpoint)

    stats = await run_export(
        SimSource(sim, [export]), CallbackSink(sink), config=StreamConfig(batch_size=100),
        on_checkpoint=async_hook if asynchronous else sync_hook,
    )
    assert positions == accepted
    assert [c.line for c in positions] == sorted(c.line for c in positions)
    assert positions[-1].done and positions[-1].line == 300
    assert stats.batches == len(accepted)
    assert [p.records for p in stats.parts.values()] == [300]


class _WatchedSource(SimSource):
    """A SimSource that notes, after naming each part, whether the run still counts itself discovering."""

    def __init__(self, sim: Simulator, exports, stats: RunStats) -> None:  # type: ignore[no-untyped-def]
        super().__init__(sim, exports)
        self.run_stats = stats
        self.discovering: list[bool] = []

    async def parts(self, session):  # type: ignore[no-untyped-def]
        async for part in super().parts(session):
            yield dataclasses.replace(part, records=30)  # the count a vendor may announce
            self.discovering.append(self.run_stats.discovering)


async def test_the_run_is_discovering_until_the_source_named_every_part(sim: Simulator) -> None:
    export = sim.add_export("OrderItem", records=90, parts=3)
    stats = RunStats()
    source = _WatchedSource(sim, [export], stats)
    sizes_at_first_batch: list[list[int | None]] = []

    def first_batch(checkpoint: Checkpoint) -> None:
        if not sizes_at_first_batch:
            sizes_at_first_batch.append([p.size for p in stats.parts.values()])

    await run_export(source, CallbackSink(lambda b: None), stats=stats, config=StreamConfig(concurrency=1),
                     on_checkpoint=first_batch)
    assert source.discovering == [True, True, True]
    # one download at a time: parts 1 and 2 have not answered yet, their sizes are the listed ones
    assert sizes_at_first_batch == [[export.file_size(i) for i in range(3)]]
    assert stats.discovering is False
    assert stats.expected_bytes == sum(export.file_size(i) for i in range(3))
    assert [p.expected_records for p in stats.parts.values()] == [30, 30, 30]
    assert stats.expected_records == 90 == stats.records
    assert [p.name for p in stats.parts.values()] == [
        f"OrderItem {export.file_name(i)} of export {export.id}" for i in range(3)
    ]


async def test_parts_done_in_an_earlier_run_are_skipped_and_said_so(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    export = sim.add_export("OrderItem", records=60, parts=2)
    source = SimSource(sim, [export])
    first_key, second_key = f"sim/{export.id}/0", f"sim/{export.id}/1"
    done = Checkpoint(first_key, export.file_size(0), 30, done=True)
    delivered: list[str] = []
    with caplog.at_level(logging.INFO, logger="streamer.engine"):
        stats = await run_export(
            source, CallbackSink(lambda b: delivered.append(b.part.key)),
            checkpoints={first_key: done},
        )
    assert set(delivered) == {second_key}
    assert stats.records == 30
    skipped_part = stats.parts[first_key]
    assert (skipped_part.done, skipped_part.records, skipped_part.size) == (True, 0, export.file_size(0))
    assert skipped_part.name == f"OrderItem {export.file_name(0)} of export {export.id}"
    skipped = [r.getMessage() for r in caplog.records if "already delivered" in r.getMessage()]
    assert skipped == [f"OrderItem {export.file_name(0)} of export {export.id}: already delivered in an earlier run"]


async def test_progress_is_reported_every_second_by_default(sim: Simulator) -> None:
    export = sim.add_export("OrderItem", records=50, parts=1)
    ticks: list[float | None] = []

    async def slow(batch: Batch) -> None:
        await anyio.sleep(1.6)  # one batch: the run takes 1.6 s or more

    stats = await run_export(
        SimSource(sim, [export]), CallbackSink(slow), on_progress=lambda s: ticks.append(s.finished),
    )
    assert stats.elapsed >= 1.5
    assert ticks[-1] is not None  # the final report
    assert len(ticks) >= 2  # and at least the tick after the first second (a 2 s default would give none)


class _ClosingSink:
    """Records the error it is closed with; its close awaits, as a real sink's does (a thread, a socket)."""

    def __init__(self, on_write: Callable[[], object] = lambda: None) -> None:
        self.closed_with: object = "not closed"
        self.on_write = on_write

    async def open(self) -> None:
        return None

    async def write(self, batch: Batch) -> None:
        self.on_write()

    async def close(self, error: BaseException | None) -> None:
        await anyio.sleep(0)
        self.closed_with = error


async def test_a_cancelled_run_still_closes_its_sink(sim: Simulator) -> None:
    export = sim.add_export("OrderItem", records=300, parts=1)
    with anyio.CancelScope() as scope:
        sink = _ClosingSink(on_write=scope.cancel)
        await run_export(SimSource(sim, [export]), sink, config=StreamConfig(batch_size=100))
    assert scope.cancelled_caught
    assert isinstance(sink.closed_with, anyio.get_cancelled_exc_class())  # told the run did not finish


async def test_a_run_opens_its_session_with_the_http_config_and_closes_the_sink_with_no_error() -> None:
    agents: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        agents.append(request.headers.get("User-Agent"))
        return web.Response(body=b'{"Id":"a"}\n', content_type="application/x-ndjson")

    app = web.Application()
    app.router.add_get("/part.jsonl", handler)
    sink = _ClosingSink()
    async with serve_locally(app, shutdown_timeout=0.2) as base_url:
        config = StreamConfig(http=HTTPConfig(user_agent="probe-agent/9"))
        stats = await run_export(UrlSource([f"{base_url}/part.jsonl"]), sink, config=config)
    assert stats.records == 1
    assert agents == ["probe-agent/9"]
    assert sink.closed_with is None  # a sink tells success from failure by `error is None` (Singer's final STATE)


class _Keeper:
    """A BookmarkKeeper that records the engine's calls and has one window without files."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        info = PartInfo(source="sim", index=-1, entity_type="OrderItem", export_id="w2", name="bookmark")
        self.leftover = Batch([], info, Checkpoint(info.key, 0, 0, done=True))
        self.leftover.bookmarks = {"sim/OrderItem": {"stream": "OrderItem", "replication_key": "UpdatedUtc",
                                                     "replication_key_value": "T2"}}

    async def load(self, sink: object, checkpoints: object) -> None:
        self.calls.append(("load", (sink, dict(checkpoints))))  # type: ignore[call-overload]

    def stamp(self, batch: Batch) -> Batch:
        self.calls.append(("stamp", batch.checkpoint.line))
        return batch

    def committed(self, batch: Batch) -> None:
        self.calls.append(("committed", batch))

    def leftovers(self) -> list[Batch]:
        self.calls.append(("leftovers", None))
        return [self.leftover]


class _IncrementalSim(SimSource):
    def __init__(self, sim: Simulator, exports, keeper: _Keeper) -> None:  # type: ignore[no-untyped-def]
        super().__init__(sim, exports)
        self.bookmarks = keeper


async def test_an_incremental_run_stamps_each_batch_and_delivers_the_windows_left_over(sim: Simulator) -> None:
    export = sim.add_export("OrderItem", records=40, parts=1)
    keeper = _Keeper()
    delivered: list[Batch] = []
    sink = CallbackSink(delivered.append)
    stats = await run_export(_IncrementalSim(sim, [export], keeper), sink, config=StreamConfig(batch_size=20))
    assert keeper.calls[0] == ("load", (sink, {}))
    stamped = [line for name, line in keeper.calls if name == "stamp"]
    assert stamped == [b.checkpoint.line for b in delivered]  # every batch, before the sink wrote it
    assert stamped[-2:] == [40, 0]  # the part's final batch, then the window left over
    assert keeper.calls[-2:] == [("stamp", 0), ("committed", keeper.leftover)]  # only the batch carrying bookmarks
    assert delivered[-1] is keeper.leftover
    left = stats.parts[keeper.leftover.part.key]
    assert (left.done, left.name, left.size) == (True, keeper.leftover.part.describe(), 0)
    assert stats.records == 40
