"""The pieces of a cluster run without a cluster: part specs, refusals, the worker task, the stats board."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import aiohttp
import anyio.to_thread
import pytest

pytest.importorskip("distributed")

import streamer
from streamer.distributed import PartSpec, run_on_cluster
from streamer.distributed.coordinator import _Board, _spec
from streamer.distributed.specs import PartResult, task_key
from streamer.distributed.targets import target_for, without_password
from streamer.distributed.worker import stream_part
from streamer.errors import ConfigError
from streamer.simulator import Simulator
from tests.support.sinks import dir_records


class _NoCluster:
    """A client that fails the test if anything is submitted."""

    asynchronous = False

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("nothing should reach the cluster")

    def subscribe_topic(self, *args: Any) -> None:
        raise AssertionError("nothing should reach the cluster")


async def _first_spec(source: streamer.UrlSource, sink_url: str) -> PartSpec:
    async with aiohttp.ClientSession() as session:
        async for part in source.parts(session):
            return _spec(source, part, sink_url, streamer.StreamConfig(batch_size=100), "run1")
    raise AssertionError("no part")


async def test_a_spec_is_plain_data_keyed_by_the_part_never_by_its_signed_url(sim: Simulator) -> None:
    export = sim.add_export("OrderItem", records=10, parts=2)
    urls = sim.file_urls(export)
    spec = await _first_spec(streamer.UrlSource(urls, entity_type="OrderItem"), "dir:///out")
    assert pickle.loads(pickle.dumps(spec)) == spec
    signature = urls[0].split("?", 1)[1]
    assert signature and signature not in spec.task_key and spec.task_key == task_key(spec.key)
    assert spec.task_key.startswith("streamer-part-urls-") and spec.key.startswith("urls/")


@pytest.mark.parametrize(
    "sink", ["-", "jsonl:///out.jsonl", "singer:-", "sqlite:///out.db", "duckdb:///out.duckdb"]
)
async def test_single_writer_sinks_are_refused_before_anything_is_submitted(sink: str) -> None:
    with pytest.raises(ConfigError, match="has a single writer and a cluster run writes from many processes"):
        await run_on_cluster(streamer.UrlSource(["http://127.0.0.1:9/a.jsonl"]), sink, client=_NoCluster())


async def test_a_password_in_the_sink_url_is_refused_and_can_be_stripped() -> None:
    url = "postgresql://loader:s3cret@db.internal:5432/warehouse?schema=raw"
    with pytest.raises(ConfigError, match="PGPASSWORD") as caught:
        await run_on_cluster(streamer.UrlSource(["http://127.0.0.1:9/a.jsonl"]), url, client=_NoCluster())
    assert "s3cret" not in str(caught.value)
    assert without_password(url) == "postgresql://loader@db.internal:5432/warehouse?schema=raw"


async def test_headers_and_providers_that_cannot_travel_are_refused() -> None:
    source = streamer.UrlSource(["http://127.0.0.1:9/a.jsonl"], headers={"Authorization": "Bearer t0ken"})
    with pytest.raises(ConfigError, match="headers are not sent to cluster workers"):
        await _first_spec(source, "dir:///out")
    homemade = streamer.UrlSource(["http://127.0.0.1:9/a.jsonl"])
    homemade.name = "homemade"  # a provider with no codec in PART_CODECS
    with pytest.raises(ConfigError, match="the homemade source cannot run on a cluster yet"):
        await run_on_cluster(homemade, "dir:///out", client=_NoCluster())


async def test_the_worker_task_streams_a_part_and_resumes_from_its_directory(sim: Simulator, tmp_path: Path) -> None:
    export = sim.add_export("OrderItem", records=500, parts=1)
    spec = await _first_spec(streamer.UrlSource(sim.file_urls(export), entity_type="OrderItem"), f"dir:///{tmp_path}")
    first = await anyio.to_thread.run_sync(stream_part, spec)  # outside a worker: no progress events
    assert (first.records, first.resumed_from_line, first.already_done) == (500, 0, False)
    again = await anyio.to_thread.run_sync(stream_part, spec)
    assert (again.records, again.already_done) == (0, True)
    part_dir = target_for(spec.sink_url).part_directory(spec.key)  # type: ignore[attr-defined]
    assert [r["Id"] for r in dir_records(part_dir)["order_item"]] == export.ids()


def _result(key: str, attempt: str, records: int) -> PartResult:
    return PartResult(key=key, attempt=attempt, records=records, bytes=records * 10, batches=1, retries=0,
                      url_refreshes=0, skipped_lines=2, resumed_from_line=0, already_done=False,
                      worker="w", pid=1, seconds=0.1, peak_rss=1)


def test_the_board_sums_every_attempt_and_trusts_results_over_late_events() -> None:
    stats = streamer.RunStats()
    seen: list[PartResult] = []
    board = _Board(stats, seen.append)
    counters = {"bytes": 0, "batches": 0, "retries": 0, "url_refreshes": 0, "worker": "w", "pid": 1}
    board.on_event((0.0, {"key": "p/0", "attempt": "dead", "records": 300, **counters}))
    board.on_event((0.0, {"key": "p/0", "attempt": "second", "records": 100, **counters}))
    board.on_event((0.0, {"key": "p/1", "attempt": "only", "records": 50, **counters}))
    assert stats.records == 450
    board.finish(_result("p/0", "second", 700))
    board.on_event((0.0, {"key": "p/0", "attempt": "second", "records": 650, **counters}))  # late: ignored
    assert stats.records == 300 + 700 + 50 and stats.bytes == 7000 and stats.skipped_lines == 2
    assert [r.attempt for r in seen] == ["second"]


def test_an_incremental_rebilly_run_is_refused_on_a_cluster() -> None:
    from streamer.distributed import PART_CODECS
    from streamer.records import Part, PartInfo

    source = streamer.RebillySource(organization_id="org", api_key="k3y", base_url="http://127.0.0.1:9", incremental=True)
    part = Part(info=PartInfo("rebilly", 0, export_id="e1"), url="http://127.0.0.1:9/e1.csv")
    with pytest.raises(ConfigError, match="incremental Rebilly run keeps its bookmark in --state"):
        PART_CODECS["rebilly"].describe(source, part)
    plain = streamer.RebillySource(organization_id="org", api_key="k3y", base_url="http://127.0.0.1:9", export_ids=["e1"])
    url, settings = PART_CODECS["rebilly"].describe(plain, part)
    assert url is None and b"k3y" not in pickle.dumps(settings) and settings["organization_id"] == "org"
