"""Mews Connector API exports (``exports/add`` + ``exports/getAll``).

Importing this package registers the typed Mews entities for ``record.typed()``
and for Singer schemas.
"""

from streamer.providers.mews import entities
from streamer.providers.mews.client import (
    DEMO_PLATFORM_URL,
    PRODUCTION_PLATFORM_URL,
    MewsClient,
    MewsCredentials,
)
from streamer.providers.mews.entities import owner_of
from streamer.providers.mews.lifecycle import (
    ExportAlreadyRunningError,
    ExportLifecycle,
    MewsExport,
    PollPolicy,
)
from streamer.providers.mews.limiter import SlidingWindowLimiter, limiter_for
from streamer.providers.mews.requests import ENTITY_TYPES, ExportRequest
from streamer.providers.mews.source import MewsSource

__all__ = [
    "DEMO_PLATFORM_URL",
    "ENTITY_TYPES",
    "PRODUCTION_PLATFORM_URL",
    "ExportAlreadyRunningError",
    "ExportLifecycle",
    "ExportRequest",
    "MewsClient",
    "MewsCredentials",
    "MewsExport",
    "MewsSource",
    "PollPolicy",
    "SlidingWindowLimiter",
    "entities",
    "limiter_for",
    "owner_of",
]
