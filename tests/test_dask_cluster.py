"""Scale-out on Dask: a LocalCluster of two worker *processes*, the simulator in this process.

Every record exactly once in ``dir`` across a worker process killed
(SIGKILL) mid-part — resumed at its checkpoint, not restarted — and across
a coordinator stopped and rerun; progress and the summary folded into one
RunStats at the coordinator.  PostgreSQL under a kill: tests/test_dask_cli.py.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import orjson
import pytest

pytest.importorskip("distributed")

import streamer
from streamer.distributed import MANIFEST_NAME, PartResult, run_on_cluster
from streamer.simulator import Simulator
from tests.support.dask_fixture import dask_client, two_workers  # noqa: F401  (fixture)
from tests.support.sinks import dir_records, duplicates

RECORDS, PARTS = 6000, 4
THROTTLE = 1.2e6  # bytes/s per file: each part takes ~1.5 s, long enough to kill a worker inside it


@pytest.fixture
def client(dask_client: Any) -> Any:  # noqa: F811
    return two_workers(dask_client)


def _pids(client: Any) -> dict[str, int]:
    return client.run(os.getpid)  # type: ignore[no-any-return]


async def _run_killing_a_worker(sim: Simulator, client: Any, sink_url: str) -> tuple[streamer.RunStats, list[PartResult], Any]:
    sim.faults.bytes_per_second = THROTTLE
    export = sim.add_export("OrderItem", records=RECORDS, parts=PARTS)
    source = streamer.UrlSource(sim.file_urls(export), entity_type="OrderItem")
    results: list[PartResult] = []
    progress: list[int] = []
    stats = streamer.RunStats()
    async with anyio.create_task_group() as tg:

        async def coordinate() -> None:
            await run_on_cluster(
                source, sink_url, client=client, stats=stats, batch_size=200,
                on_part=results.append, on_progress=lambda s: progress.append(s.records), progress_interval=0.2,
            )

        tg.start_soon(coordinate)
        with anyio.fail_after(30):
            # one part per worker at a time: two parts under way means each worker has committed some
            while sum(0 < p.records and not p.done for p in stats.parts.values()) < 2:
                await anyio.sleep(0.05)
        victim = sorted((await anyio.to_thread.run_sync(_pids, client)).values())[0]
        os.kill(victim, signal.SIGKILL)
    assert progress and progress[-1] == stats.records  # live progress reached the coordinator
    return stats, results, export


async def test_dir_exactly_once_after_a_worker_is_killed_mid_part(sim: Simulator, client: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    stats, results, export = await _run_killing_a_worker(sim, client, f"dir:///{out}?gzip=1")
    ids = [r["Id"] for part in sorted((out / "parts").iterdir()) for r in dir_records(part).get("order_item", [])]
    assert duplicates(ids) == [] and sorted(ids) == sorted(export.ids())
    assert any(r.resumed_from_line > 0 for r in results), "the killed part restarted from scratch"
    manifest = orjson.loads((out / MANIFEST_NAME).read_bytes())
    assert manifest["gzip"] is True and len(manifest["parts"]) == PARTS
    assert all(p["done"] and p["files"] == ["order_item-00000.jsonl.gz"] for p in manifest["parts"].values())


async def test_coordinator_stopped_and_rerun_delivers_the_rest_once(sim: Simulator, client: Any, tmp_path: Path) -> None:
    sim.faults.bytes_per_second = THROTTLE
    export = sim.add_export("OrderItem", records=RECORDS, parts=PARTS)
    source = streamer.UrlSource(sim.file_urls(export), entity_type="OrderItem")
    url = f"dir:///{tmp_path / 'out'}"
    first = streamer.RunStats()
    with anyio.move_on_after(20) as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: run_on_cluster(source, url, client=client, stats=first, batch_size=200))
            while first.records < 1000:
                await anyio.sleep(0.05)
            tg.cancel_scope.cancel()  # the coordinator dies mid-run; its tasks may still be running
    assert not scope.cancelled_caught
    assert not all(p.done for p in first.parts.values())
    results: list[PartResult] = []
    second = await run_on_cluster(source, url, client=client, batch_size=200, on_part=results.append)
    ids = [r["Id"] for part in sorted((tmp_path / "out" / "parts").iterdir()) for r in dir_records(part)["order_item"]]
    assert duplicates(ids) == [] and sorted(ids) == sorted(export.ids())
    assert all(p.done for p in second.parts.values()) and len(second.parts) == PARTS
    assert second.records < RECORDS  # the rerun streamed only what the first run had not committed


def test_a_killed_local_worker_keeps_its_slot_however_short_dasks_lost_worker_timeout() -> None:
    """Dask closes a lost worker's nanny when no worker of its name is back within
    ``lost-worker-timeout``; our nannies restart their worker themselves, so the cluster
    ``connect`` starts must not drop the slot (here the timer fires before the restart ends)."""
    import dask

    from streamer.distributed import connect

    with dask.config.set({"distributed.deploy.lost-worker-timeout": "0.1s"}), connect(workers=1) as client:
        client.wait_for_workers(1, timeout=30)
        os.kill(next(iter(_pids(client).values())), signal.SIGKILL)
        time.sleep(1.5)  # the death is seen and its timer has fired
        client.wait_for_workers(1, timeout=30)
        assert list(client.cluster.workers) == [0]
        assert client.submit(abs, -3).result(timeout=30) == 3


async def test_an_asynchronous_client_on_this_event_loop(sim: Simulator, client: Any, tmp_path: Path) -> None:
    from distributed import Client

    export = sim.add_export("OrderItem", records=900, parts=3)
    source = streamer.UrlSource(sim.file_urls(export), entity_type="OrderItem")
    async with Client(client.scheduler.address, asynchronous=True) as aclient:
        stats = await run_on_cluster(source, f"dir:///{tmp_path}", client=aclient, batch_size=100)
    assert stats.records == 900 and len(stats.parts) == 3 and all(p.done for p in stats.parts.values())
    ids = [r["Id"] for part in sorted((tmp_path / "parts").iterdir()) for r in dir_records(part)["order_item"]]
    assert sorted(ids) == sorted(export.ids())


async def test_streamer_run_takes_the_client_as_its_executor(sim: Simulator, client: Any, tmp_path: Path) -> None:
    """The library's one front door: ``streamer.run(..., executor=client)`` is a cluster run."""
    from distributed import Client

    export = sim.add_export("OrderItem", records=600, parts=2)
    source = streamer.UrlSource(sim.file_urls(export), entity_type="OrderItem")
    async with Client(client.scheduler.address, asynchronous=True) as aclient:
        with pytest.raises(streamer.ConfigError, match="needs its sink as a URL"):
            await streamer.run(source, streamer.DirSink(tmp_path / "x"), executor=aclient)
        with pytest.raises(streamer.ConfigError, match="sink's own checkpoints"):
            await streamer.run(source, f"dir:///{tmp_path}", executor=aclient, state=tmp_path / "s.json")
        stats = await streamer.run(source, f"dir:///{tmp_path}", executor=aclient, batch_size=100)
    assert stats.records == 600 and all(p.done for p in stats.parts.values())
    ids = [r["Id"] for part in sorted((tmp_path / "parts").iterdir()) for r in dir_records(part)["order_item"]]
    assert sorted(ids) == sorted(export.ids())
