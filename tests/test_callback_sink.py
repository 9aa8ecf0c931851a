"""CallbackSink: each way of calling the user's function, with what it is given and where it runs.

A sync callback runs on the event loop unless ``in_thread`` (then in a
worker thread, so it may block); an async one is awaited; a sync one that
returns an awaitable has it awaited; ``typed`` hands over Structs instead
of the batch.
"""

from __future__ import annotations

import threading
from typing import Any

import msgspec

from streamer.sinks.callback import CallbackSink
from tests.support.sinks import make_batch


class Order(msgspec.Struct):
    Id: str
    n: int = 0


async def test_a_sync_callback_gets_the_batch_on_the_loop_thread() -> None:
    seen: list[tuple[Any, int]] = []
    sink = CallbackSink(lambda batch: seen.append((batch, threading.get_ident())))
    batch = make_batch([{"Id": "a"}])
    await sink.open()
    await sink.write(batch)
    await sink.close(None)
    assert seen == [(batch, threading.get_ident())]


async def test_in_thread_runs_the_callback_in_a_worker_thread_with_the_batch() -> None:
    seen: list[tuple[Any, int]] = []
    sink = CallbackSink(lambda batch: seen.append((batch, threading.get_ident())), in_thread=True)
    batch = make_batch([{"Id": "a"}])
    await sink.write(batch)
    assert len(seen) == 1 and seen[0][0] is batch
    assert seen[0][1] != threading.get_ident()


async def test_an_awaitable_returned_by_a_sync_callback_is_awaited() -> None:
    done: list[str] = []

    async def later(batch: Any) -> None:
        done.append(batch.records[0].data["Id"])

    await CallbackSink(lambda batch: later(batch)).write(make_batch([{"Id": "a"}]))
    assert done == ["a"]


async def test_an_async_callback_is_awaited() -> None:
    done: list[Any] = []

    async def callback(batch: Any) -> None:
        done.append(batch)

    batch = make_batch([{"Id": "a"}])
    await CallbackSink(callback).write(batch)
    assert done == [batch]


async def test_typed_hands_over_structs_in_file_order() -> None:
    got: list[Any] = []
    await CallbackSink(got.append, typed=Order).write(make_batch([{"Id": "a", "n": 1}, {"Id": "b"}]))
    assert got == [[Order("a", 1), Order("b", 0)]]
    threaded: list[Any] = []
    await CallbackSink(threaded.append, typed=Order, in_thread=True).write(make_batch([{"Id": "c"}]))
    assert threaded == [[Order("c")]]
