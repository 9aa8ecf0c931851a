"""Totals known from the start: sizes before the first byte (Content-Length, a bounded probe,
local files) and record counts where the vendor says them (LogiSense, Rebilly; Mews never)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from click.testing import CliRunner

from streamer import (
    JsonlSink,
    LogisenseSource,
    RetryPolicy,
    StreamConfig,
    UrlSource,
    run,
)
from streamer.cli.demo import BackgroundSimulator
from streamer.cli.main import cli
from streamer.engine.stats import RunStats
from streamer.http.sizes import probe_sizes
from streamer.providers.rebilly import ExportRequest
from streamer.simulator import FaultPlan, Simulator
from streamer.simulator.logisense import install as install_logisense
from tests.support.local_server import serve_locally
from tests.support.rebilly import make_source, rebilly_sim

FAST = StreamConfig(retry=RetryPolicy(initial_delay=0.02, jitter=0.02))


async def _sizes_of(source: UrlSource) -> list[int | None]:
    async with aiohttp.ClientSession() as session:
        return [part.size async for part in source.parts(session)]


async def test_simulator_files_carry_content_length(sim: Simulator) -> None:
    export = sim.add_export("OrderItem", records=200, parts=2)
    async with aiohttp.ClientSession() as session, session.get(sim.file_url(export, 1)) as response:
        assert response.headers.get("Transfer-Encoding") is None
        assert int(response.headers["Content-Length"]) == export.file_size(1) == len(await response.read())


async def test_url_sizes_are_probed_before_the_first_byte(sim: Simulator, tmp_path: Path) -> None:
    export = sim.add_export("OrderItem", records=300, parts=3, gzip=True)
    urls = sim.file_urls(export)
    assert await _sizes_of(UrlSource(urls)) == [None, None, None]  # off by default: no request
    assert not sim.requests
    probed = await _sizes_of(UrlSource(urls, size_probe_timeout=2.0))
    assert probed == [export.file_size(i) for i in range(3)]
    assert [headers.get("Range") for _, _, headers in sim.requests] == ["bytes=0-0"] * 3
    # the run's total is known as soon as the parts are listed, and the run checks against it
    stats = await run(UrlSource(urls, size_probe_timeout=2.0), JsonlSink(tmp_path / "out.jsonl"))
    assert stats.expected_bytes == sum(export.file_size(i) for i in range(3)) == stats.bytes
    assert stats.records == 300


async def test_local_files_know_their_size(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2}\n')
    assert await _sizes_of(UrlSource([path, tmp_path / "missing.jsonl"])) == [18, None]


async def test_a_slow_or_refusing_server_delays_the_run_by_the_timeout_at_most() -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(10)
        return web.Response(text="{}\n")

    async def refused(request: web.Request) -> web.Response:
        return web.Response(status=403, text="no")

    app = web.Application()
    app.router.add_get("/slow.jsonl", slow)
    app.router.add_get("/refused.jsonl", refused)
    async with serve_locally(app, shutdown_timeout=0.1) as base_url, aiohttp.ClientSession() as session:
        started = time.monotonic()
        urls = [f"{base_url}/slow.jsonl", f"{base_url}/refused.jsonl"]
        sizes = await probe_sizes(session, urls, {}, timeout=0.3)
        waited = time.monotonic() - started
    assert sizes == [None, None]
    assert 0.25 < waited < 1.5, waited


async def test_logisense_row_counts_are_the_records_total(tmp_path: Path) -> None:
    sim = Simulator(seed=5, faults=FaultPlan(seed=5))
    api = install_logisense(sim, ready_made=False, rows_per_export=300, pending_seconds=0.0, processing_seconds=0.0)
    async with sim:
        first, second = api.add_history(120, data_export_id=7), api.add_history(80, data_export_id=8)
        source = LogisenseSource(
            base_url=sim.base_url, username="demo", password="demo-password", client_id="streamer",
            history_ids=[first.identity, second.identity], poll_interval=0.02,
        )
        stats = await run(source, JsonlSink(tmp_path / "out.jsonl"), config=FAST)
    assert sorted(p.expected_records for p in stats.parts.values()) == [80, 120]  # type: ignore[type-var]
    assert stats.expected_records == 200 == stats.records
    assert stats.summary().startswith("200 records from 2 parts (200 announced), ")


async def test_rebilly_record_count_is_the_records_total(tmp_path: Path) -> None:
    async with rebilly_sim(records=250, timeline={}) as (sim, state):
        source = make_source(sim, state, request=ExportRequest(resource="transactions", format="json"))
        stats = await run(source, JsonlSink(tmp_path / "out.jsonl"), config=FAST)
    assert stats.expected_records == 250 == stats.records
    assert "250 records from 1 part (250 announced), " in stats.summary()


def test_records_total_only_when_every_part_says_and_never_below_what_was_delivered() -> None:
    stats = RunStats()
    stats.part("a", "part 0", 10, records=100)
    stats.records = 40
    assert stats.records_text() == "40/100 records"
    stats.discovering = True
    assert stats.expected_records is None  # more parts may come
    stats.discovering = False
    stats.records = 101
    assert stats.expected_records is None and stats.records_text() == "101 records"  # the vendor undercounted
    stats.records = 40
    stats.part("b", "part 1", 10)  # Mews-like: no count
    assert stats.expected_records is None and stats.summary().startswith("40 records from 2 parts")


async def test_gzip_encoded_on_the_fly_stays_chunked() -> None:
    async with Simulator(content_encoding=True) as sim:
        export = sim.add_export("OrderItem", records=50)
        headers = {"Accept-Encoding": "gzip"}
        async with aiohttp.ClientSession(auto_decompress=False) as session, session.get(
            sim.file_url(export, 0), headers=headers
        ) as response:
            assert response.headers.get("Content-Encoding") == "gzip"
            assert response.headers.get("Transfer-Encoding") == "chunked"
            assert "Content-Length" not in response.headers


@pytest.mark.parametrize(("bar", "probe", "probes"), [(False, "2", 0), (True, "2", 2), (True, "0", 0)])
def test_the_cli_probes_sizes_only_when_it_draws_a_bar(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bar: bool, probe: str, probes: int
) -> None:
    """A pipe or cron run pays no probe; a terminal run asks each URL once, unless told not to."""
    import streamer.cli.urls as urls_command

    monkeypatch.setattr(urls_command, "shows_progress", lambda *, quiet: bar)  # the bar itself stays off
    simulator = Simulator(seed=4)
    export = simulator.add_export("OrderItem", records=100, parts=2)
    with BackgroundSimulator(simulator) as sim:
        args = ["urls", "--size-probe-timeout", probe, "-o", str(tmp_path / "out.jsonl"), *sim.file_urls(export)]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        ranged = [r for r in sim.requests if r[2].get("Range") == "bytes=0-0"]
    assert len(ranged) == probes
    assert len((tmp_path / "out.jsonl").read_bytes().splitlines()) == 100
