"""``streamer urls ... --workers 2``: the CLI on a local Dask cluster, a worker process killed mid-part.

The simulator runs in this (the test) process; the CLI process starts the
cluster; its worker processes reach the simulator over loopback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import orjson
import pytest

pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")

from streamer.distributed import MANIFEST_NAME
from streamer.simulator import Simulator
from tests.support.pg_fixture import postgres_dsn  # noqa: F401  (fixture)
from tests.support.sinks import dir_records, duplicates, postgres_rows

RECORDS, PARTS = 4000, 4
THROTTLE = 1.5e6


def _worker_processes(cli: int) -> list[psutil.Process]:
    """The Dask worker processes under the CLI (Dask titles them ``dask worker [address]``)."""
    return [c for c in psutil.Process(cli).children(recursive=True) if " ".join(c.cmdline()).startswith("dask worker")]


async def _run_cli_killing_a_worker(sim: Simulator, sink: str, under_way: Callable[[], Awaitable[int]]) -> tuple[int, str]:
    """Run the CLI on 2 workers; once two parts are committed partway, SIGKILL one worker process."""
    sim.faults.bytes_per_second = THROTTLE
    export = sim.add_export("OrderItem", records=RECORDS, parts=PARTS)
    command = [sys.executable, "-m", "streamer.cli.main", "-v", "urls", *sim.file_urls(export), "--entity-type", "OrderItem",
               "--batch-size", "200", "--sink", sink, "--workers", "2"]
    process = await anyio.open_process(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    async with process:
        with anyio.fail_after(45):
            while await under_way() < 2:
                assert process.returncode is None, "the CLI ended before the kill"
                await anyio.sleep(0.1)
            victim = _worker_processes(process.pid)[0]
            os.kill(victim.pid, signal.SIGKILL)
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


async def test_cli_postgres_sink_exactly_once_after_a_worker_kill(sim: Simulator, postgres_dsn: str) -> None:  # noqa: F811
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

    code, stderr = await _run_cli_killing_a_worker(sim, f"{postgres_dsn}?schema=dask_cli", under_way)
    assert code == 0, stderr
    export = next(iter(sim.exports.values()))
    ids = [r[0] for r in (await postgres_rows(postgres_dsn, "dask_cli"))["order_item"]]
    assert duplicates(ids) == [] and sorted(ids) == sorted(export.ids())
    assert "resumed after line" in stderr  # the killed part went on from its committed checkpoint


def test_cli_refuses_a_single_writer_sink_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "streamer.cli.main", "urls", "http://127.0.0.1:9/x.jsonl",
         "--sink", f"sqlite:///{tmp_path / 'x.db'}", "--workers", "2"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"streamer: error: sink sqlite:///{tmp_path / 'x.db'} has a single writer and a cluster run writes "
        "from many processes: use postgresql://... or dir://..., or run without --workers/--scheduler"
    ]
