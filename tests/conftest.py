"""Shared fixtures: a local simulator per test, and aioresponses that works on aiohttp 3.14.

Under ``STREAMER_REQUIRE_ALL=1`` (set by ``.ci/run``) no test may skip:
:func:`pytest_runtest_makereport` turns any skip that is not an ``xfail``
into a failure, whoever raised it (``pytest.skip``, ``importorskip``, a
``skipif`` marker), and :func:`pytest_make_collect_report` does the same for a
module skipped at import.  See docs/testing.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from typing import Any

import pytest

from streamer.simulator import FaultPlan, Simulator
from tests.support.aioresponses_compat import mock_http  # noqa: F401  (fixture)
from tests.support.require import REQUIRE_ALL_ENV, require_all


def _forbid_skip(report: Any) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under {REQUIRE_ALL_ENV}=1 (CI must run every test): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    if require_all():
        _forbid_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, None]:
    outcome = yield
    if require_all():
        _forbid_skip(outcome.get_result())


@pytest.fixture
def faults() -> FaultPlan:
    return FaultPlan(seed=1234)


@pytest.fixture
async def sim(faults: FaultPlan) -> AsyncIterator[Simulator]:
    """A simulator on 127.0.0.1 (random port), stopped after the test."""
    async with Simulator(seed=7, faults=faults) as simulator:
        yield simulator
