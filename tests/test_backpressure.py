"""A slow sink stalls the sockets; memory stays bounded whatever the export size."""

import asyncio
import json
import subprocess
import sys

import streamer
from streamer.engine.runner import run_export
from streamer.simulator import Simulator
from tests.support.simulator_process import simulator_process

MB = 1 << 20


async def settled(value, *, quiet: float = 0.5, timeout: float = 20.0) -> int:
    """The value once it stayed the same for ``quiet`` seconds (machines here are shared and slow)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = value()
    while loop.time() < deadline:
        await asyncio.sleep(quiet)
        now = value()
        if now == last:
            return now
        last = now
    raise AssertionError(f"still reading after {timeout}s with a stalled sink ({last} bytes)")


async def test_stalled_sink_stops_the_download(sim: Simulator) -> None:
    export = sim.add_export("OrderItem", records=150_000, parts=4)
    body = sum(f.size for f in export.files)
    assert body > 180 * MB
    gate, first = asyncio.Event(), asyncio.Event()
    delivered = 0

    async def sink(batch: streamer.Batch) -> None:
        nonlocal delivered
        first.set()
        await gate.wait()
        delivered += len(batch.records)

    stats = streamer.RunStats()
    task = asyncio.create_task(
        run_export(streamer.UrlSource(sim.file_urls(export)), streamer.CallbackSink(sink), stats=stats)
    )
    await first.wait()
    held = await settled(lambda: stats.bytes)
    # Reading stops while the sink holds (the sockets are stalled), and what was
    # read before is bounded by channels + aiohttp and kernel socket buffers.
    await asyncio.sleep(0.5)
    assert stats.bytes == held
    assert held < 64 * MB, f"{held / MB:.0f} MB read ahead of a stalled sink"
    gate.set()
    await task
    assert delivered == export.records == stats.records
    assert stats.bytes == body


def slow_sink_run(records: int) -> tuple[dict, dict]:
    """Serve ``records`` OrderItems from a simulator process; stream them in a client process."""
    with simulator_process("--records", str(records), "--parts", "4") as (_, index):
        export = index["Exports"][0]
        result = subprocess.run(
            [sys.executable, "-m", "tests.support.slow_sink_client", "0.002", *[f["Url"] for f in export["Files"]]],
            capture_output=True,
            text=True,
            timeout=240,
            check=True,
        )
    return export, json.loads(result.stdout)


def test_peak_memory_is_flat_with_a_slow_sink() -> None:
    small_export, small = slow_sink_run(30_000)
    big_export, big = slow_sink_run(250_000)
    assert big["bytes"] > 300 * MB and big["bytes"] > 8 * small["bytes"]
    for export, report in ((small_export, small), (big_export, big)):
        assert report["records"] == export["Records"]
        assert report["bytes"] == sum(f["SizeInBytes"] for f in export["Files"])
    # 8x the data, (almost) the same peak: memory does not follow the export size.
    assert big["peak_rss_mb"] - small["peak_rss_mb"] < 25, (small, big)
    assert big["peak_rss_mb"] < 200, big
