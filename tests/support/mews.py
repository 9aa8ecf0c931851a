"""Shared helpers for the Mews tests: a simulator with the Mews API and a source for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from streamer.providers.mews import MewsSource, PollPolicy
from streamer.providers.mews.limiter import SlidingWindowLimiter
from streamer.simulator import FaultPlan, Simulator
from streamer.simulator.mews import DEMO_ACCESS_TOKEN, DEMO_CLIENT_TOKEN, MewsApi, MewsSimConfig, install

FAST_POLL = PollPolicy(initial_interval=0.02, max_interval=0.1, deadline=20.0)


@asynccontextmanager
async def mews_simulator(
    *, url_ttl: float = 600.0, faults: FaultPlan | None = None, seed: int = 7, **config: Any
) -> AsyncIterator[tuple[Simulator, MewsApi]]:
    """A running simulator with the Mews API; ``config`` goes to :class:`MewsSimConfig`."""
    config.setdefault("pending_seconds", 0.05)
    config.setdefault("processing_seconds", 0.1)
    config.setdefault("records", 300)
    sim = Simulator(seed=seed, url_ttl=url_ttl, faults=faults or FaultPlan(seed=seed))
    api = install(sim, MewsSimConfig(seed=seed, **config))
    async with sim:
        yield sim, api


def mews_source(sim: Simulator, entity_types: list[str] | tuple[str, ...], **options: Any) -> MewsSource:
    """A source for the simulator with fast polling and its own limiter (tests share no quota)."""
    options.setdefault("poll", FAST_POLL)
    options.setdefault("limiter", SlidingWindowLimiter())
    return MewsSource(
        platform_url=sim.base_url,
        client_token=DEMO_CLIENT_TOKEN,
        access_token=DEMO_ACCESS_TOKEN,
        entity_types=entity_types,
        **options,
    )
