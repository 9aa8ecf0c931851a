"""``streamer urls ... --workers 2`` and ``--scheduler``: the CLI on Dask, a worker process killed mid-part.

The simulator runs in this (the test) process and the workers reach it over
loopback.  ``--workers 2``: the CLI process starts the cluster and its
worker processes are found under it; ``--scheduler``: the CLI joins this
session's cluster, whose worker pids ``client.run(os.getpid)`` gives.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")

from streamer.distributed import MANIFEST_NAME
from streamer.simulator import Simulator
from tests.support.dask_fixture import dask_client, two_workers  # noqa: F401  (fixture)
from tests.support.pg_fixture import postgres_dsn  # noqa: F401  (fixture)
from tests.support.sinks import dir_records, duplicates, postgres_rows

RECORDS, PARTS = 4000, 4
THROTTLE = 1.5e6


def _worker_processes(cli: int) -> list[psutil.Process]:
    """The Dask worker processes under the CLI: titled ``dask worker [address]`` where setproctitle is
    installed, else the interpreters ``multiprocessing`` spawned for them (not its resource tracker)."""

    def is_worker(command: str) -> bool:
        return command.startswith("dask worker") or ("multiprocessing.spawn" in command and "resource_tracker" not in command)

    return [c for c in psutil.Process(cli).children(recursive=True) if is_worker(" ".join(c.cmdline()))]


async def _run_cli_killing_a_worker(
    sim: Simulator, sink: str, under_way: Callable[[], Awaitable[int]], cluster: Any = None
) -> tuple[int, str]:
    """Run the CLI on 2 workers (its own, or ``cluster``'s); once two parts are committed partway,
    SIGKILL one worker process."""
    sim.faults.bytes_per_second = THROTTLE
    export = sim.add_export("OrderItem", records=RECORDS, parts=PARTS)
    command = [sys.executable, "-m", "streamer.cli.main", "-v", "urls", *sim.file_urls(export), "--entity", "OrderItem",
               "--batch-size", "200", "--sink", sink]
    command += ["--workers", "2"] if cluster is None else ["--scheduler", cluster.scheduler.address]
    process = await anyio.open_process(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    async with process:
        with anyio.fail_after(45):
            while await under_way() < 2:
                assert process.returncode is None, "the CLI ended before the kill"
                await anyio.sleep(0.1)
            if cluster is None:
                victim = _worker_processes(process.pid)[0].pid
            else:
                victim = sorted((await anyio.to_thread.run_sync(cluster.run, os.getpid)).values())[0]
            os.kill(victim, signal.SIGKILL)
            stderr = b""
            assert process.stderr is not None
            async for chunk in process.stderr:
                stderr += chunk
            await process.wait()
    return process.returncode or 0, stderr.decode(errors="replace")


async def test_cli_dir_sink_exactly_once_after_a_worker_kill(sim: Simulator, tmp_path: Path) -> None:
    out = tmp_path / "out"

    async def under_way() -> int:
        states = [orjson.loads(p.read_bytes()) for p in out.glob("parts/*/_streamer_state.json")]
        return sum(1 for s in states for c in s["checkpoints"].values() if c["line"] > 0 and not c["done"])

    code, stderr = await _run_cli_killing_a_worker(sim, f"dir:///{out}", under_way)
    assert code == 0, stderr
    export = next(iter(sim.exports.values()))
    ids = [r["Id"] for part in sorted((out / "parts").iterdir()) for r in dir_records(part)["order_item"]]
    assert duplicates(ids) == [] and sorted(ids) == sorted(export.ids())
    assert len(orjson.loads((out / MANIFEST_NAME).read_bytes())["parts"]) == PARTS
    assert f"{PARTS} parts" in stderr  # the coordinator's one summary line
    assert "resumed after line" in stderr  # the killed part went on from its committed checkpoint


async def test_cli_on_a_scheduler_postgres_exactly_once_after_a_worker_kill(
    sim: Simulator, postgres_dsn: str, dask_client: Any  # noqa: F811
) -> None:
    import asyncpg

    async def under_way() -> int:
        conn = await asyncpg.connect(postgres_dsn)
        try:
            return int(await conn.fetchval(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'dask_cli' "
                "AND table_name = '_streamer_checkpoints'"
            ) and await conn.fetchval(
                "SELECT count(*) FROM dask_cli._streamer_checkpoints WHERE line > 0 AND NOT done"
            ))
        finally:
            await conn.close()

    cluster = await anyio.to_thread.run_sync(two_workers, dask_client)
    code, stderr = await _run_cli_killing_a_worker(sim, f"{postgres_dsn}?schema=dask_cli&layout=json", under_way, cluster)
    assert code == 0, stderr
    export = next(iter(sim.exports.values()))
    ids = [r[0] for r in (await postgres_rows(postgres_dsn, "dask_cli"))["order_item"]]
    assert duplicates(ids) == [] and sorted(ids) == sorted(export.ids())
    assert "resumed after line" in stderr  # the killed part went on from its committed checkpoint


def test_cli_refuses_a_single_writer_sink_in_one_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from streamer.cli.main import cli

    sink = f"sqlite:///{tmp_path / 'x.db'}"
    result = CliRunner().invoke(cli, ["urls", "http://127.0.0.1:9/x.jsonl", "--sink", sink, "--workers", "2"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"streamer: error: sink {sink} has a single writer and a cluster run writes "
        "from many processes: use postgresql://... or dir://..., or run without --workers/--scheduler"
    ]
    assert not (tmp_path / "x.db").exists()
