"""The one polling policy (streamer.providers.polling) and Mews's default schedule, on a fake clock."""

from __future__ import annotations

import itertools

import pytest

from streamer.errors import ExportTimeoutError
from streamer.providers.mews import PollPolicy
from streamer.providers.polling import PollSchedule


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_mews_default_schedule_follows_the_every_few_minutes_guidance() -> None:
    schedule = PollPolicy().schedule
    waits = list(itertools.islice(schedule.intervals(), 9))
    assert waits == [5, 10, 20, 40, 80, 160, 180, 180, 180]
    assert 120 <= schedule.cap <= 180  # "every few minutes", quick first polls for small exports
    assert schedule.deadline == 4 * 3600


def test_schedule_refuses_nonsense() -> None:
    for bad in (dict(initial=0), dict(cap=1, initial=2), dict(factor=0.5), dict(deadline=0)):
        options = {"initial": 1.0, "factor": 2.0, "cap": 10.0, "deadline": 60.0, **bad}
        with pytest.raises(ValueError):
            PollSchedule(**options)


async def test_deadline_counts_from_creation_and_the_last_poll_is_at_the_deadline() -> None:
    clock = FakeClock()
    created = clock.now
    clock.now += 25  # the export was created 25 s before the wait began
    schedule = PollSchedule(initial=5, factor=2, cap=20, deadline=60)
    poller = schedule.poller("exp-42", "Rebilly data export", started_at=created, clock=clock, sleep=clock.sleep)
    polls = 0
    with pytest.raises(ExportTimeoutError) as info:
        while True:
            await poller.wait("processing")
            polls += 1
    # 25 s already gone: 5 + 10 + 20 = 35 s more brings it to the deadline; the poll there is the last.
    assert poller.waits == [5, 10, 20]
    assert polls == 3
    assert clock.now - created == 60
    assert "Rebilly data export exp-42 is still processing after 60s" in str(info.value)
    assert "since it was created" in str(info.value)


async def test_deadline_defaults_to_now_and_is_shortened_not_overslept() -> None:
    clock = FakeClock()
    poller = PollSchedule(initial=4, factor=3, cap=100, deadline=10).poller(
        "7", "LogiSense DataExportHistory", clock=clock, sleep=clock.sleep
    )
    with pytest.raises(ExportTimeoutError, match="LogiSense DataExportHistory 7 is still 'Running'"):
        for _ in range(10):
            await poller.wait("'Running'")
    assert poller.waits[0] == 4 and poller.waits[1] == pytest.approx(6.001)  # 12 s capped at the deadline
    assert len(poller.waits) == 2


async def test_mews_lifecycle_polls_on_the_schedule_and_times_out_at_the_deadline_since_creation() -> None:
    """Against the simulator: one getAll per wait, the waits growing to the cap, the timeout at the deadline."""
    import time

    import aiohttp
    import anyio

    from streamer.providers.mews import MewsClient, MewsCredentials
    from streamer.providers.mews.lifecycle import ExportLifecycle
    from streamer.providers.mews.limiter import SlidingWindowLimiter
    from streamer.providers.mews.requests import build_requests
    from streamer.simulator.mews import DEMO_ACCESS_TOKEN, DEMO_CLIENT_TOKEN
    from tests.support.mews import mews_simulator

    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await anyio.sleep(seconds)

    async with mews_simulator(stuck={"Company"}) as (sim, api):
        async with aiohttp.ClientSession() as session:
            client = MewsClient(
                MewsCredentials(sim.base_url, DEMO_CLIENT_TOKEN, DEMO_ACCESS_TOKEN), session, limiter=SlidingWindowLimiter()
            )
            policy = PollPolicy(initial_interval=0.02, multiplier=2.0, max_interval=0.08, deadline=0.4)
            lifecycle = ExportLifecycle(client, build_requests(["Company"]), policy=policy, sleep=sleep)
            started = time.monotonic()
            with pytest.raises(ExportTimeoutError) as info:
                async for _ in lifecycle.ready():
                    pass
            elapsed = time.monotonic() - started
    (export_id,) = lifecycle.created.values()
    assert f"Mews Company export {export_id} is still Processing after 0.4s" in str(info.value)
    assert waits[:4] == [0.02, 0.04, 0.08, 0.08]
    assert all(w <= 0.08 for w in waits)
    assert sum(waits) <= 0.4 + 0.0011  # no wait runs past the deadline: the last one is cut to end there
    assert lifecycle.polls == len(waits)  # one getAll per wait
    assert 0.4 <= elapsed < 1.5
