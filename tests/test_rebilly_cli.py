"""``streamer rebilly`` end to end: a real CLI process against the simulated Rebilly API."""

from __future__ import annotations

import asyncio
import collections
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest

from streamer.simulator import Simulator
from streamer.simulator.rebilly import RebillySim, install

ORG = "org-cli-1"


@contextmanager
def simulator_thread(**options) -> Iterator[tuple[Simulator, RebillySim]]:
    """The simulator on its own event loop in a thread, so a CLI subprocess can use it."""
    loop = asyncio.new_event_loop()
    sim = Simulator(seed=5)
    state = install(sim, **options)
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(sim.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield sim, state
    finally:
        asyncio.run_coroutine_threadsafe(sim.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def run_cli(sim: Simulator, state: RebillySim, *args: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "REBILLY_API_KEY": state.api_key, "REBILLY_ORGANIZATION_ID": ORG}
    command = [sys.executable, "-m", "streamer.cli.main", "rebilly", "--base-url", sim.base_url,
               "--poll-interval", "0.05", "--max-poll-interval", "0.1", "-o", str(out), *args]
    result = subprocess.run(command, env=env, capture_output=True, timeout=120)
    return result, out


def ids_in(path: Path, key=lambda r: r["id"]) -> list[str]:
    return [key(orjson.loads(line)) for line in path.read_bytes().splitlines()]


@pytest.mark.parametrize("export_format", ["csv", "json"])
def test_cli_streams_a_large_export_end_to_end_exactly_once(tmp_path, export_format):
    with simulator_thread(records=90_000) as (sim, state):
        result, out = run_cli(sim, state, "--resource", "transactions", "--export-format", export_format,
                              "--date-start", "-30 days", "--date-end", "now", tmp_path=tmp_path)
        assert result.returncode == 0, result.stderr.decode()
        (export,) = state.exports.values()
        size = len(state.content(export))
        assert size > 20_000_000  # tens of MB
        got = ids_in(out)
        assert len(got) == 90_000 and got == export.ids
        assert collections.Counter(got).most_common(1)[0][1] == 1
        assert f"Rebilly export {export.id}" in result.stderr.decode()
        assert state.api_key not in result.stderr.decode()


def test_cli_singer_output_of_a_zip_of_json_api_parts(tmp_path):
    with simulator_thread(records=2_500, zip_threshold=1_000) as (sim, state):
        result, out = run_cli(sim, state, "--resource", "customers", "--export-format", "json-api",
                              "--format", "singer", tmp_path=tmp_path)
        assert result.returncode == 0, result.stderr.decode()
        (export,) = state.exports.values()
        messages = [orjson.loads(line) for line in out.read_bytes().splitlines()]
        records = [m for m in messages if m["type"] == "RECORD"]
        assert [m["record"]["id"] for m in records] == export.ids and export.zipped
        assert {m["stream"] for m in records} == {"customers"}


def test_cli_refuses_pdf_and_reports_problems_clearly(tmp_path):
    with simulator_thread(records=10) as (sim, state):
        result, _ = run_cli(sim, state, "--export-format", "pdf", tmp_path=tmp_path)
        assert result.returncode == 2
        assert b"pdf exports carry no line records" in result.stderr
        state.max_records = 5
        result, _ = run_cli(sim, state, tmp_path=tmp_path)
        assert result.returncode == 1
        assert b"data-export-limit-exceeded" in result.stderr and b"the limit is 5" in result.stderr
        assert not state.exports


def test_cli_lists_and_attaches(tmp_path):
    with simulator_thread() as (sim, state):
        done = [state.add_export("transactions", "csv", records=30) for _ in range(3)]
        result, out = run_cli(sim, state, "--list-exports", tmp_path=tmp_path)
        assert result.returncode == 0, result.stderr.decode()
        listed = [orjson.loads(line)["id"] for line in result.stdout.splitlines()]
        assert listed == [e.id for e in done]
        result, out = run_cli(sim, state, "--export-id", done[1].id, tmp_path=tmp_path)
        assert result.returncode == 0, result.stderr.decode()
        assert ids_in(out) == done[1].ids


def test_cli_state_reuses_the_export_of_an_interrupted_run(tmp_path):
    with simulator_thread(records=500, timeline={"pending": 1, "processing": 10_000}) as (sim, state):
        state_file = tmp_path / "state.json"
        # The first run gives up while the export is still processing…
        result, _ = run_cli(sim, state, "--state", str(state_file), "--timeout", "0.5", tmp_path=tmp_path)
        assert result.returncode == 1 and b"still processing" in result.stderr
        (export,) = state.exports.values()
        # …Rebilly finishes it meanwhile; the rerun streams that export instead of requesting another.
        export.timeline = ["completed"]
        result, out = run_cli(sim, state, "--state", str(state_file), tmp_path=tmp_path)
        assert result.returncode == 0, result.stderr.decode()
        assert len(state.exports) == 1 and sum(r["method"] == "POST" for r in state.requests) == 1
        assert ids_in(out) == export.ids
        # A different request is a different export.
        state.timeline = {}
        result, _ = run_cli(sim, state, "--state", str(state_file), "--filter", "result:approved", tmp_path=tmp_path)
        assert result.returncode == 0 and len(state.exports) == 2


def test_cli_lists_past_offset_1000_and_reaches_the_new_resources(tmp_path):
    from datetime import datetime, timedelta, timezone

    start = datetime(2026, 3, 1, tzinfo=timezone.utc)
    with simulator_thread(records=25) as (sim, state):
        made = {state.add_export("transactions", "csv", records=1, created=start + timedelta(seconds=i // 3)).id
                for i in range(1150)}
        result, _ = run_cli(sim, state, "--list-exports", tmp_path=tmp_path)
        assert result.returncode == 0, result.stderr.decode()
        listed = [orjson.loads(line)["id"] for line in result.stdout.splitlines()]
        assert len(listed) == 1150 and set(listed) == made
        assert all(int(r["query"]["offset"]) <= 1000 for r in state.requests if r["operation"] == "list")

        result, out = run_cli(sim, state, "--resource", "payoutRequestAllocations", "--export-format", "csv",
                              tmp_path=tmp_path)
        assert result.returncode == 0, result.stderr.decode()
        assert len(ids_in(out)) == 25
        (post,) = [r for r in state.requests if r["method"] == "POST"]
        assert len(post["body"]["name"]) <= 50 and post["body"]["resource"] == "payoutRequestAllocations"

        result, _ = run_cli(sim, state, "--resource", "revenueAudit", tmp_path=tmp_path)
        assert result.returncode == 2 and b"revenueAudit" in result.stderr
