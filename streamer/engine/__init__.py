"""The engine: stream parts concurrently, decode, and feed a sink under backpressure.

Names are loaded on first use (PEP 562) so that ``streamer.engine.config``
does not pull in the runner and aiohttp with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamer.engine.config import StreamConfig
    from streamer.engine.runner import run_export
    from streamer.engine.stats import PartStats, RunStats

_HOMES = {
    "PartStats": "streamer.engine.stats",
    "RunStats": "streamer.engine.stats",
    "StreamConfig": "streamer.engine.config",
    "run_export": "streamer.engine.runner",
}

__all__ = ["PartStats", "RunStats", "StreamConfig", "run_export"]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
