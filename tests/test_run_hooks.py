"""run_export's hooks: progress ticks, a final report, checkpoints after each accepted batch.

A broken metrics hook must never fail an export (it is logged), the last
report must carry the finished run, and ``on_checkpoint`` sees exactly the
positions the sink accepted, in order, sync or async.
"""

from __future__ import annotations

import logging

import anyio
import pytest

from streamer.engine.config import StreamConfig
from streamer.engine.runner import run_export
from streamer.engine.stats import RunStats
from streamer.records import Batch, Checkpoint
from streamer.simulator import Simulator
from streamer.sinks.callback import CallbackSink
from tests.support.faults import SimSource


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
