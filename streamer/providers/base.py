"""The source contract: an async stream of parts, produced as they become ready.

A provider creates or finds exports, polls them, and yields a
:class:`~streamer.records.Part` for each file as soon as its export is ready,
so the first parts download while other exports are still processing.  Parts
carry a ``refresh`` callable when their URLs expire.

Providers must not ``yield`` from inside a task group or cancel scope (the
engine consumes ``parts()`` from its own task); they receive the run's
session and never close it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

import aiohttp

from streamer.records import Part


@runtime_checkable
class Source(Protocol):
    name: str

    def parts(self, session: aiohttp.ClientSession) -> AsyncIterator[Part]:
        """Yield every part of the export(s), in the order ordered mode should keep."""
        ...
