"""HTTP plumbing shared by the data plane and the providers' control planes.

Names load on first use (PEP 562): ``streamer.http.redact`` (used by logging
at start-up) must not import aiohttp with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamer.http.redact import redact_url
    from streamer.http.responses import raise_for_response, request_id_of, retry_after_of
    from streamer.http.retry import RetryPolicy
    from streamer.http.session import HTTPConfig, open_session

_HOMES = {
    "HTTPConfig": "streamer.http.session",
    "RetryPolicy": "streamer.http.retry",
    "open_session": "streamer.http.session",
    "raise_for_response": "streamer.http.responses",
    "redact_url": "streamer.http.redact",
    "request_id_of": "streamer.http.responses",
    "retry_after_of": "streamer.http.responses",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
