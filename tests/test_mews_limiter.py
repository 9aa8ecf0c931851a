"""The client-side limiter is a real sliding window: never N+1 requests in any window."""

from __future__ import annotations

import asyncio

import pytest

from streamer.providers.mews.limiter import SlidingWindowLimiter, limiter_for, reset_limiters


class FakeClock:
    """Time that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make(max_requests: int = 200, window: float = 30.0) -> tuple[SlidingWindowLimiter, FakeClock, list[float]]:
    clock = FakeClock()
    sent: list[float] = []
    limiter = SlidingWindowLimiter(max_requests, window, clock=clock, sleep=clock.sleep)
    return limiter, clock, sent


async def test_burst_of_200_passes_and_the_201st_waits_for_the_oldest_to_leave_the_window() -> None:
    limiter, clock, sent = make()
    for _ in range(200):
        await limiter.acquire()
        sent.append(clock.now)
    assert clock.sleeps == []  # a burst within the quota is not slowed down
    await limiter.acquire()
    sent.append(clock.now)
    assert clock.sleeps == [pytest.approx(30.0)]
    assert sent[-1] == pytest.approx(sent[0] + 30.0)


async def test_window_slides_rather_than_resetting() -> None:
    # 150 at t=0, 50 at t=20: at t=31 the first 150 left the window, the 50 did not.
    limiter, clock, sent = make()
    for _ in range(150):
        await limiter.acquire()
    clock.now += 20
    for _ in range(50):
        await limiter.acquire()
    assert limiter.delay() == pytest.approx(10.0)  # full until the t=0 requests age out
    clock.now += 11
    assert limiter.in_window() == 50
    for _ in range(150):
        await limiter.acquire()
    assert clock.sleeps == []
    assert limiter.delay() == pytest.approx(19.0)  # now the t=20 requests bound the window (until t=50)


async def test_no_window_of_30_seconds_ever_holds_more_than_200_requests() -> None:
    limiter, clock, sent = make(max_requests=20, window=3.0)
    for i in range(200):
        if i % 7 == 0:
            clock.now += 0.4  # irregular traffic
        await limiter.acquire()
        sent.append(clock.now)
    for i, start in enumerate(sent):
        in_window = sum(1 for t in sent[i:] if t < start + 3.0)
        assert in_window <= 20, f"{in_window} requests in the window starting at request {i}"


async def test_concurrent_tasks_share_the_quota() -> None:
    limiter, clock, sent = make(max_requests=10, window=5.0)

    async def worker() -> None:
        for _ in range(5):
            await limiter.acquire()
            sent.append(clock.now)

    await asyncio.gather(*(worker() for _ in range(4)))
    assert len(sent) == 20
    assert sum(1 for t in sent if t < sent[0] + 5.0) == 10


def test_one_limiter_per_access_token() -> None:
    reset_limiters()
    a = limiter_for("token-a-123456")
    assert limiter_for("token-a-123456") is a
    assert limiter_for("token-b-123456") is not a
    reset_limiters()
    assert limiter_for("token-a-123456") is not a
