"""Rebilly on a cluster: one task per export (a ZIP's members streamed inside it); each worker gets
its signed link through the API with its own environment's key, and again when the link expires."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("distributed")

from streamer.distributed import ClusterPartError, run_on_cluster
from streamer.simulator import FaultPlan
from tests.support.dask_fixture import (  # noqa: F401
    dask_client,
    spy_on_specs,
    two_workers,
    worker_environment,
)
from tests.support.rebilly import make_source, rebilly_sim
from tests.support.sinks import dir_records, duplicates


async def test_workers_sign_links_themselves_and_stream_zip_members_once(dask_client: Any, tmp_path: Path) -> None:  # noqa: F811
    # 0.25 s signed links, 100 kB/s: a cut 0.3 s into each file (the ZIP is 35 kB, the CSV 235 kB)
    # and one more later (each cut fires once); each resume needs a link only the worker's own GET can give.
    faults = FaultPlan(seed=2, bytes_per_second=100_000, drop_at={"*": [30_000, 200_000]})
    async with rebilly_sim(faults=faults, url_ttl=0.25, links=("signedLink",), zip_threshold=1000) as (sim, state):
        zipped = state.add_export(records=3000)  # a ZIP of three members past the threshold
        plain = state.add_export(records=900)
        client = two_workers(dask_client)
        specs, undo = spy_on_specs(client)
        try:
            with worker_environment(client, {"REBILLY_API_KEY": state.api_key}):
                stats = await run_on_cluster(make_source(sim, state, export_ids=[zipped.id, plain.id]),
                                             f"dir:///{tmp_path}", client=client, batch_size=250)
        finally:
            undo()
        assert zipped.zipped and not plain.zipped
        gets = [r for r in state.requests if r["method"] == "GET" and r["path"].endswith((zipped.id, plain.id))]
    for export in (zipped, plain):
        (part,) = [p for p in (tmp_path / "parts").iterdir() if export.id in p.name]
        ids = [r["id"] for rows in dir_records(part).values() for r in rows]
        assert duplicates(ids) == [] and ids == export.ids  # every member, in order, once
    assert len(specs) == 2 and stats.records == 3900 and len(stats.parts) == 2  # one task per export
    assert stats.retries >= 2 and stats.url_refreshes >= 2  # re-signed by the engine, on the workers
    assert len(gets) >= 2 * 2 + stats.url_refreshes  # per export the coordinator's GET and the worker's, then each re-signing
    for spec in specs:
        carried = pickle.dumps(spec)
        assert state.api_key.encode() not in carried and state.jwt.encode() not in carried
        assert spec.url is None and spec.info.export_id in {zipped.id, plain.id}


async def test_a_worker_without_the_key_fails_the_part_in_one_line(dask_client: Any, tmp_path: Path) -> None:  # noqa: F811
    async with rebilly_sim() as (sim, state):
        export = state.add_export(records=20)
        with pytest.raises(ClusterPartError, match="lacks REBILLY_JWT, or REBILLY_API_KEY"):
            await run_on_cluster(make_source(sim, state, export_ids=[export.id]), f"dir:///{tmp_path}",
                                 client=two_workers(dask_client))
