"""aioresponses on aiohttp ≥ 3.14: supply the ``stream_writer`` it no longer passes.

aiohttp 3.14 made ``stream_writer`` a required keyword of ``ClientResponse``;
aioresponses 0.7.9 builds responses without it and every mocked call fails
(upstream pnuckowski/aioresponses#289, fix pending in #288).  aiohttp reads
only ``stream_writer.output_size`` from it for a mocked response, so a tiny
stand-in is enough.  We patch only the *default* response class aioresponses
uses, only when aiohttp asks for the argument and aioresponses does not
already supply it: on aiohttp 3.13, or once aioresponses ships the fix, this
does nothing.  The library itself is untouched and runs on the newest aiohttp;
the data plane is tested against real local servers, never through this.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from aioresponses import core as aioresponses_core


class _NoStreamWriter:
    """What a mocked response reports about its (absent) request body writer."""

    output_size = 0
    buffer_size = 0


def _needs_shim() -> bool:
    wants = "stream_writer" in inspect.signature(aiohttp.ClientResponse.__init__).parameters
    supplies = "stream_writer" in inspect.getsource(aioresponses_core)
    return wants and not supplies


class CompatClientResponse(aiohttp.ClientResponse):
    def __init__(self, method: str, url: Any, *, stream_writer: Any = None, **kwargs: Any) -> None:
        super().__init__(method, url, stream_writer=stream_writer or _NoStreamWriter(), **kwargs)


@pytest.fixture
def mock_http(monkeypatch: pytest.MonkeyPatch) -> Iterator[aioresponses]:
    """An ``aioresponses`` mock that works on every supported aiohttp."""
    if _needs_shim():
        monkeypatch.setattr(aioresponses_core, "ClientResponse", CompatClientResponse)
    with aioresponses() as mocked:
        yield mocked
