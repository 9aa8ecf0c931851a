"""``streamer mews --state F -o out.jsonl`` killed with SIGKILL mid-run: the rerun
reuses the exports the first run created (no new ``exports/add``), resumes
every part at its acknowledged offset with fresh URLs, and the output holds
every record exactly once."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import orjson
import pytest

from streamer.simulator import FaultPlan, Simulator
from streamer.simulator.mews import DEMO_ACCESS_TOKEN, DEMO_CLIENT_TOKEN, MewsSimConfig, install
from tests.support.faults import assert_exactly_once, ids_in_file
from tests.support.processes import reaped

pytestmark = [pytest.mark.faults, pytest.mark.timeout(90)]


async def _mews_cli(base_url: str, state, out) -> asyncio.subprocess.Process:
    env = {**os.environ, "MEWS_PLATFORM_URL": base_url, "MEWS_CLIENT_TOKEN": DEMO_CLIENT_TOKEN,
           "MEWS_ACCESS_TOKEN": DEMO_ACCESS_TOKEN}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streamer.cli.main", "-q", "mews", "--entity", "OrderItem", "--entity", "Payment",
        "--poll-interval", "0.05", "--max-poll-interval", "0.2", "--url-ttl", "1", "--batch-size", "50",
        "--state", str(state), "-o", str(out),
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )


async def test_killed_mews_run_reuses_its_exports_and_resumes_exactly_once(tmp_path):
    state, out = tmp_path / "state.json", tmp_path / "out.jsonl"
    faults = FaultPlan(seed=71)
    sim = Simulator(seed=71, faults=faults, url_ttl=1.0)
    api = install(sim, MewsSimConfig(records=2500, parts=2, pending_seconds=0.05, processing_seconds=0.1, seed=71))
    async with sim:
        faults.bytes_per_second = 700_000  # ~2 s per file: the kill lands mid-part
        process = await _mews_cli(sim.base_url, state, out)
        async with reaped(process):  # killed on the way out
            deadline = time.monotonic() + 30
            while not (out.exists() and out.stat().st_size > 2_000_000):
                assert time.monotonic() < deadline and process.returncode is None, "first run never got going"
                await asyncio.sleep(0.02)
        saved = orjson.loads(state.read_bytes())
        assert set(saved["exports"]) == {"mews/OrderItem", "mews/Payment"}
        assert any(p["offset"] > 0 and not p["done"] for p in saved["parts"].values()), saved["parts"]
        adds = [a for a, _ in api.calls if a == "add"]
        assert len(adds) == 2

        await asyncio.sleep(1.2)  # every URL the first run had is expired now
        faults.bytes_per_second = None
        process = await _mews_cli(sim.base_url, state, out)
        _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert [a for a, _ in api.calls if a == "add"] == adds, "the rerun created a new export"
    expected = [i for export in api.exports.values() for i in export.ids()]
    assert len(api.exports) == 2
    assert_exactly_once(ids_in_file(out), expected, "Mews, after SIGKILL and resume")
    assert orjson.loads(state.read_bytes())["run"]["status"] == "completed"
    assert DEMO_ACCESS_TOKEN not in state.read_text() and "sig=" not in state.read_text()
