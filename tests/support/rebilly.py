"""Fixtures for the Rebilly tests: a simulator with the Rebilly API and a source pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from streamer.api import stream
from streamer.engine.config import StreamConfig
from streamer.http.retry import RetryPolicy
from streamer.providers.rebilly import ExportRequest, RebillySource
from streamer.records import Record
from streamer.simulator import FaultPlan, Simulator
from streamer.simulator.rebilly import RebillySim, install

ORG = "org-test-1"
FAST_RETRY = RetryPolicy(max_attempts=5, initial_delay=0.01, max_delay=0.05, jitter=0.0)


@asynccontextmanager
async def rebilly_sim(*, faults: FaultPlan | None = None, url_ttl: float = 600.0, **options: Any) -> AsyncIterator[tuple[Simulator, RebillySim]]:
    sim = Simulator(seed=11, faults=faults, url_ttl=url_ttl)
    state = install(sim, **options)
    async with sim:
        yield sim, state


def make_source(sim: Simulator, state: RebillySim, *, jwt: bool = False, **kwargs: Any) -> RebillySource:
    kwargs.setdefault("poll_interval", 0.01)
    kwargs.setdefault("max_poll_interval", 0.02)
    kwargs.setdefault("retry", FAST_RETRY)
    if "request" not in kwargs and "export_ids" not in kwargs and not kwargs.get("from_list"):
        kwargs["request"] = ExportRequest(resource="transactions", format="csv")
    credentials = {"jwt": state.jwt} if jwt else {"api_key": state.api_key}
    return RebillySource(organization_id=ORG, base_url=sim.base_url, **credentials, **kwargs)


async def collect(source: RebillySource, config: StreamConfig | None = None) -> list[Record]:
    config = config or StreamConfig(retry=FAST_RETRY)
    async with stream(source, config=config) as records:
        return [record async for record in records]
