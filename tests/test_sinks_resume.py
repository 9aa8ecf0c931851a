"""Done-when of issue 8: the CLI streams into a sink, is SIGKILLed mid-run, is rerun,
and the sink holds every record exactly once.

The export is served by the test's simulator, throttled so the kill lands
mid-file; the CLI runs as a real subprocess (``streamer urls ... --sink URL``)
and resumes from the checkpoints the sink committed with its data.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest

from streamer.simulator import FaultPlan, Simulator
from streamer.sinks.registry import sink_from_url
from tests.support.pg_fixture import postgres_dsn  # noqa: F401  (fixture)
from tests.support.sinks import (
    assert_resumed_at_commits,
    committed_by_index,
    count_postgres_writes,
    count_sqlite_writes,
    dir_records,
    duplicates,
    postgres_rows,
    postgres_writes,
    sqlite_rows,
    sqlite_writes,
)

RECORDS, PARTS = 6000, 3


def _cli(urls: list[str], sink: str) -> list[str]:
    return [sys.executable, "-m", "streamer.cli.main", "-q", "urls", *urls, "--entity", "OrderItem",
            "--sink", sink, "--batch-size", "100", "--concurrency", str(PARTS)]


async def _committed_lines(sink_url: str) -> int:
    checkpoints = await sink_from_url(sink_url).load_checkpoints()  # type: ignore[attr-defined]
    return sum(c.line for c in checkpoints.values())


async def _kill_and_resume(sim: Simulator, faults: FaultPlan, sink_url: str) -> list[str]:
    """Kill the CLI mid-run, rerun it; checks the rerun asked each part for exactly its committed offset."""
    export = sim.add_export("OrderItem", records=RECORDS, parts=PARTS)
    urls = sim.file_urls(export)
    faults.bytes_per_second = 600_000  # per response: ~3 s per part, so the kill lands mid-file

    first = subprocess.Popen(_cli(urls, sink_url), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while await _committed_lines(sink_url) < RECORDS // 4:
            assert first.poll() is None, f"first run ended early: {first.stderr.read().decode()}"  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "no progress committed within 30 s"
            await anyio.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        await anyio.to_thread.run_sync(first.wait)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == -signal.SIGKILL
    committed = await _committed_lines(sink_url)
    assert 0 < committed < RECORDS
    checkpoints = committed_by_index(await sink_from_url(sink_url).load_checkpoints())  # type: ignore[attr-defined]

    faults.bytes_per_second = None
    requests_before = len(sim.requests)
    second = await anyio.run_process(_cli(urls, sink_url), check=False)
    assert second.returncode == 0, second.stderr.decode()
    resumed_with_range = [h for _, _, h in sim.requests[requests_before:] if "Range" in h]
    assert resumed_with_range, "the second run re-downloaded from the start instead of resuming"
    assert_resumed_at_commits(sim.requests[requests_before:], export, checkpoints)
    checkpoints = await sink_from_url(sink_url).load_checkpoints()  # type: ignore[attr-defined]
    assert len(checkpoints) == PARTS and all(c.done for c in checkpoints.values())
    return sorted(export.ids())


@pytest.fixture
def slow_faults() -> FaultPlan:
    return FaultPlan(seed=1)


@pytest.fixture
async def throttled_sim(slow_faults: FaultPlan) -> Any:
    async with Simulator(seed=11, faults=slow_faults) as simulator:
        yield simulator


async def test_sqlite_killed_and_resumed_holds_every_record_once(
    throttled_sim: Simulator, slow_faults: FaultPlan, tmp_path: Path
) -> None:
    path = tmp_path / "out.db"
    count_sqlite_writes(path)
    expected = await _kill_and_resume(throttled_sim, slow_faults, f"sqlite:///{path}?layout=json")
    ids = [row[0] for row in sqlite_rows(path)["order_item"]]
    assert duplicates(ids) == [] and sorted(ids) == expected
    # every committed insert or update of a row, across both runs: each id exactly once
    assert sqlite_writes(path) == Counter(expected)


async def test_postgres_killed_and_resumed_holds_every_record_once(
    throttled_sim: Simulator, slow_faults: FaultPlan, postgres_dsn: str  # noqa: F811
) -> None:
    schema = f"resume_{uuid.uuid4().hex[:8]}"
    await count_postgres_writes(postgres_dsn, schema)
    expected = await _kill_and_resume(throttled_sim, slow_faults, f"{postgres_dsn}?schema={schema}&layout=json")
    ids = [row[0] for row in (await postgres_rows(postgres_dsn, schema))["order_item"]]
    assert duplicates(ids) == [] and sorted(ids) == expected
    assert await postgres_writes(postgres_dsn, schema) == Counter(expected)


async def test_dir_killed_and_resumed_holds_every_record_once(
    throttled_sim: Simulator, slow_faults: FaultPlan, tmp_path: Path
) -> None:
    """Files have no primary key: exactly-once here rests on the sink's roll-back alone."""
    directory = tmp_path / "out"
    expected = await _kill_and_resume(throttled_sim, slow_faults, f"dir:///{directory}?gzip=1&rotate_mb=1")
    ids = [r["Id"] for r in dir_records(directory)["order_item"]]
    assert duplicates(ids) == [] and sorted(ids) == expected
    assert len(list(directory.glob("order_item-*.jsonl.gz"))) > 1  # rotated

