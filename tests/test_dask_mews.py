"""Mews on a cluster: the coordinator creates the export once; workers re-sign expired URLs
themselves (tokens from their environment, never in a task)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("distributed")

from streamer.distributed import PartSpec, run_on_cluster
from streamer.simulator import FaultPlan
from streamer.simulator.mews import DEMO_ACCESS_TOKEN, DEMO_CLIENT_TOKEN
from tests.support.dask_fixture import dask_client, two_workers, worker_environment  # noqa: F401  (fixture)
from tests.support.mews import mews_simulator, mews_source
from tests.support.sinks import dir_records, duplicates


@pytest.fixture
def mews_workers(dask_client: Any) -> Any:  # noqa: F811
    """The session's workers, with the Mews tokens in their environment for this test only."""
    tokens = {"MEWS_CLIENT_TOKEN": DEMO_CLIENT_TOKEN, "MEWS_ACCESS_TOKEN": DEMO_ACCESS_TOKEN}
    with worker_environment(two_workers(dask_client), tokens) as client:
        yield client


async def test_workers_resign_expired_mews_urls_and_every_record_lands_once(mews_workers: Any, tmp_path: Path) -> None:
    # 1 s URLs; three cuts past 900 kB (~1.5 s into a file at 600 kB/s): each resume
    # needs a fresh URL, which only the worker's own getAll can give.
    faults = FaultPlan(seed=5, bytes_per_second=600_000, drop_at={"*": [900_000, 1_000_000, 1_100_000]})
    async with mews_simulator(url_ttl=1.0, faults=faults, records=4500, parts=3) as (sim, api):
        source = mews_source(sim, ["OrderItem"], url_ttl=1.0)
        specs: list[PartSpec] = []
        original = mews_workers.submit

        def spy(func: Any, spec: PartSpec, **kwargs: Any) -> Any:
            specs.append(spec)
            return original(func, spec, **kwargs)

        mews_workers.submit = spy
        try:
            stats = await run_on_cluster(source, f"dir:///{tmp_path}", client=mews_workers, batch_size=300)
        finally:
            del mews_workers.submit
        assert [a for a, _ in api.calls].count("add") == 1  # one export, created by the coordinator
        exports = list(api.exports.values())
    ids = [r["Id"] for part in sorted((tmp_path / "parts").iterdir()) for r in dir_records(part)["order_item"]]
    assert duplicates(ids) == [] and sorted(ids) == sorted(exports[0].ids())
    assert stats.retries == 3 and stats.url_refreshes >= 1 and len(stats.parts) == 3  # re-signed on the workers
    assert len(specs) == 3
    for spec in specs:
        carried = pickle.dumps(spec)
        assert DEMO_ACCESS_TOKEN.encode() not in carried and DEMO_CLIENT_TOKEN.encode() not in carried
        assert spec.url is None and spec.info.export_id == exports[0].id


async def test_a_worker_without_the_tokens_fails_the_part_in_one_line(dask_client: Any, tmp_path: Path) -> None:  # noqa: F811
    from streamer.distributed import ClusterPartError

    async with mews_simulator(records=30, parts=1) as (sim, api):
        with pytest.raises(ClusterPartError, match="lacks MEWS_CLIENT_TOKEN and MEWS_ACCESS_TOKEN"):
            await run_on_cluster(mews_source(sim, ["OrderItem"]), f"dir:///{tmp_path}", client=two_workers(dask_client))
