"""LogiSense on a cluster: the coordinator finds the history rows; each worker logs in with its own
environment's credentials and re-signs the 30-second links itself; a worker killed mid-part."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("distributed")

import streamer
from streamer.distributed import ClusterPartError, PartResult, run_on_cluster
from streamer.providers.logisense import LogisenseSource
from streamer.simulator import FaultPlan, Simulator
from streamer.simulator.logisense import install
from tests.support.dask_fixture import (  # noqa: F401  (fixture)
    dask_client,
    kill_a_worker_when_two_parts_are_under_way,
    spy_on_specs,
    two_workers,
    worker_environment,
)
from tests.support.sinks import dir_records, duplicates

USER, PASSWORD, CLIENT_ID, SECRET = "ls-cluster-user", "ls-pw-7c1e", "streamer-ls", "ls-secret-93ab"
ROWS, HISTORIES = 15_000, 3  # ~1.5 MB a file: at 1.2 MB/s each part takes over a second
CREDENTIALS = {"LOGISENSE_USERNAME": USER, "LOGISENSE_PASSWORD": PASSWORD}


def _source(sim: Simulator, history_ids: list[int]) -> LogisenseSource:
    return LogisenseSource(
        base_url=sim.base_url, username=USER, password=PASSWORD, client_id=CLIENT_ID,
        history_ids=history_ids, url_ttl=1.0, poll_interval=0.02,
    )


async def test_workers_resign_links_and_a_killed_worker_resumes_exactly_once(dask_client: Any, tmp_path: Path) -> None:  # noqa: F811
    # 1 s links; a cut ~1.1 s into each file: the resume needs a link only the worker's own login can get.
    faults = FaultPlan(seed=3, bytes_per_second=1_200_000, drop_at={"*": [1_300_000]})
    sim = Simulator(seed=3, faults=faults)
    api = install(sim, ready_made=False, username=USER, password=PASSWORD, client_id=CLIENT_ID, link_ttl=1.0)
    histories = [api.add_history(ROWS, data_export_id=10 + i, name="Invoices") for i in range(HISTORIES)]
    client = two_workers(dask_client)
    out = tmp_path / "out"
    stats, results = streamer.RunStats(), list[PartResult]()
    specs, undo = spy_on_specs(client)
    try:
        async with sim:
            with worker_environment(client, CREDENTIALS):
                async with anyio.create_task_group() as tg:

                    async def coordinate() -> None:
                        await run_on_cluster(_source(sim, [h.identity for h in histories]), f"dir:///{out}",
                                             client=client, stats=stats, batch_size=500, on_part=results.append)

                    tg.start_soon(coordinate)
                    await kill_a_worker_when_two_parts_are_under_way(client, stats)
    finally:
        undo()
    ids = [r["rowId"] for part in sorted((out / "parts").iterdir()) for rows in dir_records(part).values() for r in rows]
    assert duplicates(ids) == [] and sorted(ids) == sorted(i for h in histories for i in h.ids())
    assert any(r.resumed_from_line > 0 for r in results), "the killed part restarted from scratch"
    assert stats.url_refreshes >= 1 and stats.retries >= 1  # re-signed by the engine, which runs on the workers only
    assert api.logins.count("password") >= 2  # the coordinator's login, and the workers' own
    assert all(api.downloads[h.identity] >= 2 for h in histories)  # the coordinator's link, and each worker's
    assert api.calls and not any(path.startswith("DataExport/Trigger") or "Cancel" in path for _, path, _ in api.calls)
    assert len(specs) == HISTORIES
    for spec in specs:
        carried = pickle.dumps(spec)
        assert USER.encode() not in carried and PASSWORD.encode() not in carried and SECRET.encode() not in carried
        assert spec.url is None and spec.info.export_id in {str(h.identity) for h in histories}
        assert spec.provider_config["client_id"] == CLIENT_ID


async def test_a_worker_without_credentials_fails_the_part_in_one_line(dask_client: Any, tmp_path: Path) -> None:  # noqa: F811
    sim = Simulator(seed=4)
    api = install(sim, ready_made=False, username=USER, password=PASSWORD, client_id=CLIENT_ID)
    history = api.add_history(20)
    async with sim:
        with pytest.raises(ClusterPartError, match="lacks LOGISENSE_USERNAME and LOGISENSE_PASSWORD, or LOGISENSE_CLIENT_SECRET"):
            await run_on_cluster(_source(sim, [history.identity]), f"dir:///{tmp_path}", client=two_workers(dask_client))
