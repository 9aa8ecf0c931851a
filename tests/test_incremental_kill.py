"""``kill -9`` during an incremental ``streamer mews`` run, then a rerun: exactly once, bookmark held.

The CLI runs as a real subprocess against the in-process simulator (real
clock).  Run 1 is a full export and sets the bookmark; then many records
change with an ``UpdatedUtc`` just before that bookmark (changes Mews made
visible late: the overlap is what catches them); run 2 is slowed and killed
mid-stream.  The bookmark must not have moved; the rerun completes it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamer.incremental.bookmarks import parse_iso
from streamer.simulator.mews import DEMO_ACCESS_TOKEN, DEMO_CLIENT_TOKEN
from tests.support.mews import mews_simulator
from tests.support.processes import reaped

pytestmark = [pytest.mark.faults, pytest.mark.timeout(60)]


def _args(sim: Any, out: Path, kind: str) -> list[str]:
    args = ["mews", "--entity", "OrderItem", "--incremental", "--platform-url", sim.base_url,
            "--client-token", DEMO_CLIENT_TOKEN, "--access-token", DEMO_ACCESS_TOKEN,
            "--poll-interval", "0.05", "--max-poll-interval", "0.2", "--batch-size", "100", "--retries", "20"]
    if kind == "sqlite":
        return args + ["--sink", f"sqlite:///{out / 'out.db'}?layout=json"]
    return args + ["-o", str(out / "out.jsonl"), "--state", str(out / "state.json")]


async def _run(args: list[str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streamer.cli.main", "-q", *args,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )


async def _finish(process: asyncio.subprocess.Process) -> tuple[int, str]:
    _, err = await asyncio.wait_for(process.communicate(), 40)
    return process.returncode, err.decode()


def _bookmark(out: Path, kind: str) -> str | None:
    if kind == "sqlite":
        with sqlite3.connect(out / "out.db") as conn:
            rows = conn.execute("SELECT replication_key_value FROM _streamer_bookmarks").fetchall()
    else:
        rows = [(v["replication_key_value"],) for v in orjson.loads((out / "state.json").read_bytes())["bookmarks"].values()]
    assert len(rows) <= 1
    return rows[0][0] if rows else None


def _progress(out: Path, kind: str, export_id: str) -> int:
    """Bytes of the killed run's export acknowledged so far."""
    if kind == "sqlite":
        try:
            with sqlite3.connect(out / "out.db") as conn:
                rows = conn.execute("SELECT byte_offset FROM _streamer_checkpoints WHERE part_key LIKE ?",
                                    (f"mews/{export_id}/%",)).fetchall()
        except sqlite3.OperationalError:
            return 0
        return sum(r[0] for r in rows)
    try:
        parts = orjson.loads((out / "state.json").read_bytes())["parts"]
    except (FileNotFoundError, orjson.JSONDecodeError):
        return 0
    return sum(p["offset"] for k, p in parts.items() if k.startswith(f"mews/{export_id}/"))


def _held(out: Path, kind: str) -> list[dict[str, Any]]:
    if kind == "sqlite":
        with sqlite3.connect(out / "out.db") as conn:
            return [orjson.loads(r) for (r,) in conn.execute("SELECT record FROM order_item")]
    return [orjson.loads(line) for line in (out / "out.jsonl").read_bytes().splitlines()]


@pytest.mark.parametrize("kind", ["sqlite", "jsonl-state"])
async def test_kill_during_incremental_run_then_rerun_exactly_once(tmp_path: Path, kind: str) -> None:
    async with mews_simulator(parts=2) as (sim, api):
        records = api.track_changes("OrderItem", records=400)
        code, err = await _finish(await _run(_args(sim, tmp_path, kind)))
        assert code == 0, err
        first = _bookmark(tmp_path, kind)
        assert first is not None
        first_lines = len(_held(tmp_path, kind))
        assert first_lines == 400
        await asyncio.sleep(1.1)  # bookmarks have whole seconds: the next window must end after this one

        # Changes stamped 2 minutes before the bookmark, visible only now: inside the overlap.
        changed = sorted(records.current)[:300]
        records.update(changed, at=parse_iso(first, "bookmark") - timedelta(minutes=2))
        window_snapshot = len(changed)

        sim.faults.bytes_per_second = 60_000  # ~4 s for the changed records: the kill lands mid-run
        process = await _run(_args(sim, tmp_path, kind))
        async with reaped(process):  # killed on the way out
            deadline = time.monotonic() + 20
            while True:
                adds = [e for e in api.exports.values()]
                if len(adds) == 2 and _progress(tmp_path, kind, adds[-1].id) > 0:
                    break
                assert process.returncode is None and time.monotonic() < deadline, "run 2 made no progress"
                await asyncio.sleep(0.02)
        killed_export = list(api.exports.values())[-1]
        acknowledged = _progress(tmp_path, kind, killed_export.id)
        total = sum(killed_export.file_size(i) for i in range(len(killed_export.files)))
        assert 0 < acknowledged < total, "the kill did not land mid-export"
        assert _bookmark(tmp_path, kind) == first  # not committed: the export did not finish

        sim.faults.bytes_per_second = None
        code, err = await _finish(await _run(_args(sim, tmp_path, kind)))
        assert code == 0, err
        second = _bookmark(tmp_path, kind)
        assert second is not None and second > first

        held = _held(tmp_path, kind)
        latest = {r["Id"]: r for r in held}
        assert latest == records.current  # every Id, latest version
        if kind == "sqlite":
            assert len(held) == len(records.current)  # each Id once
        else:
            # the rerun resumed the killed run's export (same window): no third export,
            # and every changed version was appended exactly once
            assert len(api.exports) == 2
            appended = held[first_lines:]
            assert len(appended) == window_snapshot
            assert len({(r["Id"], r["UpdatedUtc"]) for r in appended}) == window_snapshot
