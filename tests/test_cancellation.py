"""Cancelling a run closes every response, socket and task; errors surface unwrapped."""

import asyncio
import gc
import warnings

import aiohttp
import psutil
import pytest

import streamer
from streamer.simulator import Simulator


def client_sockets_to(port: int) -> list:
    return [
        c
        for c in psutil.Process().net_connections(kind="tcp")
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    ]


def other_tasks() -> set:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()}


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0.02)


async def test_breaking_out_of_async_with_cleans_up(sim: Simulator) -> None:
    export = sim.add_export("OrderItem", records=60_000, parts=4)
    before = other_tasks()
    async with streamer.stream_urls(sim.file_urls(export)) as records:
        count = 0
        async for _ in records:
            count += 1
            if count == 500:
                assert client_sockets_to(sim.port)
                break
    await settle()
    assert other_tasks() - before == set()
    assert client_sockets_to(sim.port) == []


async def test_aclose_after_partial_iteration(sim: Simulator) -> None:
    export = sim.add_export("OrderItem", records=20_000, parts=2)
    records = streamer.stream_urls(sim.file_urls(export))
    first = await records.__anext__()
    assert first.data["Id"]
    await records.aclose()
    await settle()
    assert client_sockets_to(sim.port) == []


async def test_cancelling_the_task_closes_sink_and_connections(sim: Simulator) -> None:
    export = sim.add_export("OrderItem", records=60_000, parts=4)
    closed_with: list = []
    started = asyncio.Event()

    class Recording:
        async def open(self) -> None: ...

        async def write(self, batch) -> None:
            started.set()
            await asyncio.sleep(0.01)

        async def close(self, error) -> None:
            closed_with.append(error)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gc.collect()  # leftovers of earlier tests are theirs, not this run's
    before = other_tasks()
    task = asyncio.create_task(streamer.run(streamer.UrlSource(sim.file_urls(export)), Recording()))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await settle()
    assert len(closed_with) == 1 and isinstance(closed_with[0], BaseException)
    assert other_tasks() - before == set()
    assert client_sockets_to(sim.port) == []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    assert not [str(w.message) for w in caught if "Unclosed" in str(w.message)]


async def test_sink_error_stops_the_run_with_that_error(sim: Simulator) -> None:
    export = sim.add_export("OrderItem", records=20_000, parts=3)

    class Boom(Exception):
        pass

    def explode(batch) -> None:
        raise Boom("disk full")

    with pytest.raises(Boom, match="disk full"):
        await streamer.run(streamer.UrlSource(sim.file_urls(export)), streamer.CallbackSink(explode))
    await settle()
    assert client_sockets_to(sim.port) == []


async def test_callers_session_is_left_open(sim: Simulator) -> None:
    export = sim.add_export("OrderItem", records=100, parts=1)
    async with aiohttp.ClientSession() as session:
        ids = [r.data["Id"] async for r in streamer.stream_urls(sim.file_urls(export), session=session)]
        assert not session.closed
    assert ids == export.ids()


def test_run_sync_from_plain_code() -> None:
    async def serve_and_collect() -> tuple[list[str], list[str]]:
        async with Simulator() as sim:
            export = sim.add_export("Payment", records=300, parts=2)
            urls = sim.file_urls(export)
            got: list[str] = []
            loop = asyncio.get_running_loop()
            sink = streamer.CallbackSink(lambda b: got.extend(r.data["Id"] for r in b.records))
            await loop.run_in_executor(None, lambda: streamer.run_sync(streamer.UrlSource(urls), sink))
            return got, export.ids()

    got, expected = asyncio.run(serve_and_collect())
    assert sorted(got) == sorted(expected)
