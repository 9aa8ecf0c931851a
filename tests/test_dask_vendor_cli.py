"""``streamer logisense`` and ``streamer rebilly`` with ``--scheduler``: the CLI coordinates, this
session's workers stream the parts with the credentials of their own environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("distributed")

from streamer.simulator import Simulator
from streamer.simulator.logisense import install
from tests.support.dask_fixture import dask_client, two_workers, worker_environment  # noqa: F401  (fixture)
from tests.support.rebilly import ORG, rebilly_sim
from tests.support.sinks import dir_records, duplicates


async def _cli(arguments: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    """The CLI in a child process; one that has not finished after 90 s is killed and the test fails with
    its stderr (a cancelled ``anyio.run_process`` would wait for the child to exit)."""
    command = [sys.executable, "-m", "streamer.cli.main", *arguments]
    process = await anyio.to_thread.run_sync(
        lambda: subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    try:
        out, err = await anyio.to_thread.run_sync(lambda: process.communicate(timeout=90))
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = await anyio.to_thread.run_sync(process.communicate)
        pytest.fail(f"the CLI did not finish in 90 s; its stderr:\n{err.decode()[-4000:]}")
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def _ids(out: Path, field: str) -> list[str]:
    return [r[field] for part in sorted((out / "parts").iterdir()) for rows in dir_records(part).values() for r in rows]


async def test_streamer_logisense_on_a_scheduler(dask_client: Any, tmp_path: Path) -> None:  # noqa: F811
    sim = Simulator(seed=8)
    api = install(sim, ready_made=False, username="cli-user", password="cli-pw-5d2f", client_id="streamer")
    histories = [api.add_history(400, data_export_id=30 + i) for i in range(2)]
    credentials = {"LOGISENSE_USERNAME": "cli-user", "LOGISENSE_PASSWORD": "cli-pw-5d2f", "LOGISENSE_CLIENT_ID": "streamer"}
    client = await anyio.to_thread.run_sync(two_workers, dask_client)
    async with sim:
        with worker_environment(client, credentials):
            arguments = ["logisense", "--base-url", sim.base_url, "--sink", f"dir:///{tmp_path}",
                         "--scheduler", client.scheduler.address]
            for history in histories:
                arguments += ["--history-id", str(history.identity)]
            done = await _cli(arguments, credentials)
    assert done.returncode == 0, done.stderr.decode()
    ids = _ids(tmp_path, "rowId")
    assert duplicates(ids) == [] and sorted(ids) == sorted(i for h in histories for i in h.ids())
    assert b"2 parts" in done.stderr and b"cli-pw-5d2f" not in done.stderr


async def test_streamer_rebilly_on_a_scheduler(dask_client: Any, tmp_path: Path) -> None:  # noqa: F811
    async with rebilly_sim() as (sim, state):
        exports = [state.add_export(records=300), state.add_export(records=200)]
        client = await anyio.to_thread.run_sync(two_workers, dask_client)
        key = {"REBILLY_API_KEY": state.api_key}
        with worker_environment(client, key):
            arguments = ["rebilly", "--organization-id", ORG, "--base-url", sim.base_url, "--sink", f"dir:///{tmp_path}",
                         "--scheduler", client.scheduler.address]
            for export in exports:
                arguments += ["--export-id", export.id]
            done = await _cli(arguments, key)
    assert done.returncode == 0, done.stderr.decode()
    ids = _ids(tmp_path, "id")
    assert duplicates(ids) == [] and sorted(ids) == sorted(i for e in exports for i in e.ids)
    assert b"2 parts" in done.stderr and state.api_key.encode() not in done.stderr
