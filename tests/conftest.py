"""Shared fixtures: a local simulator per test, and aioresponses that works on aiohttp 3.14."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from streamer.simulator import FaultPlan, Simulator
from tests.support.aioresponses_compat import mock_http  # noqa: F401  (fixture)


@pytest.fixture
def faults() -> FaultPlan:
    return FaultPlan(seed=1234)


@pytest.fixture
async def sim(faults: FaultPlan) -> AsyncIterator[Simulator]:
    """A simulator on 127.0.0.1 (random port), stopped after the test."""
    async with Simulator(seed=7, faults=faults) as simulator:
        yield simulator
