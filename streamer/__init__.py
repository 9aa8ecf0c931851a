"""streamer: stream SaaS data exports record by record, with backpressure and resume.

Every public name is importable from here; each is loaded on first use
(PEP 562), so ``import streamer`` (and ``streamer --help``) costs only what is
used — aiohttp, the providers and the sinks come in with the first run.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from streamer._version import __version__

if TYPE_CHECKING:
    from streamer.api import RecordStream, run, run_sync, stream, stream_urls
    from streamer.assembly import RunPlan
    from streamer.decoding.badlines import BadLines
    from streamer.distributed import run_on_cluster
    from streamer.engine.config import StreamConfig
    from streamer.engine.stats import PartStats, RunStats
    from streamer.errors import (
        ConfigError,
        DecodeError,
        ExportError,
        ExportFailedError,
        ExportTimeoutError,
        HTTPError,
        LineTooLongError,
        PartChangedError,
        PartError,
        RecordRefusedError,
        RecordsRefusedError,
        RetryableHTTPError,
        RowCountMismatchError,
        SizeMismatchError,
        StreamerError,
        URLExpiredError,
    )
    from streamer.http.retry import RetryPolicy
    from streamer.http.session import HTTPConfig
    from streamer.incremental import Incremental
    from streamer.metrics import Progress, log_progress
    from streamer.providers.base import Source
    from streamer.providers.logisense import LogisenseSource
    from streamer.providers.mews import MewsSource
    from streamer.providers.rebilly import RebillySource
    from streamer.providers.urls import UrlSource
    from streamer.records import Batch, Checkpoint, Part, PartInfo, Record
    from streamer.schemas import EntitySchema, InferredSchema
    from streamer.sinks.base import Sink, SinkCapabilities, TransactionalSink
    from streamer.sinks.callback import CallbackSink
    from streamer.sinks.directory import DirSink
    from streamer.sinks.duckdb import DuckDBSink
    from streamer.sinks.jsonl import JsonlSink
    from streamer.sinks.parquet import ParquetSink
    from streamer.sinks.postgres import PostgresSink
    from streamer.sinks.registry import resolve_sink, sink_from_url
    from streamer.sinks.singer import SingerSink
    from streamer.sinks.sqlite import SqliteSink
    from streamer.tables import TableSchema, TypedOptions
    from streamer.state import BaseStateStore, JsonFileStateStore, StateError, StateStore
    from streamer.typed import struct_for
    from streamer.workers import PartitionedSource

_HOMES: dict[str, str] = {
    "BadLines": "streamer.decoding.badlines",
    "BaseStateStore": "streamer.state",
    "Batch": "streamer.records",
    "CallbackSink": "streamer.sinks.callback",
    "Checkpoint": "streamer.records",
    "ConfigError": "streamer.errors",
    "DecodeError": "streamer.errors",
    "DirSink": "streamer.sinks.directory",
    "DuckDBSink": "streamer.sinks.duckdb",
    "EntitySchema": "streamer.schemas",
    "InferredSchema": "streamer.schemas",
    "ExportError": "streamer.errors",
    "ExportFailedError": "streamer.errors",
    "ExportTimeoutError": "streamer.errors",
    "HTTPConfig": "streamer.http.session",
    "HTTPError": "streamer.errors",
    "JsonFileStateStore": "streamer.state",
    "JsonlSink": "streamer.sinks.jsonl",
    "ParquetSink": "streamer.sinks.parquet",
    "TableSchema": "streamer.tables",
    "TypedOptions": "streamer.tables",
    "LineTooLongError": "streamer.errors",
    "LogisenseSource": "streamer.providers.logisense",
    "MewsSource": "streamer.providers.mews",
    "Part": "streamer.records",
    "PartChangedError": "streamer.errors",
    "PartError": "streamer.errors",
    "PartInfo": "streamer.records",
    "PartStats": "streamer.engine.stats",
    "PartitionedSource": "streamer.workers",
    "RecordRefusedError": "streamer.errors",
    "RecordsRefusedError": "streamer.errors",
    "Incremental": "streamer.incremental",
    "PostgresSink": "streamer.sinks.postgres",
    "Progress": "streamer.metrics",
    "RebillySource": "streamer.providers.rebilly",
    "Record": "streamer.records",
    "RecordStream": "streamer.api",
    "RetryPolicy": "streamer.http.retry",
    "RetryableHTTPError": "streamer.errors",
    "RowCountMismatchError": "streamer.errors",
    "RunPlan": "streamer.assembly",
    "RunStats": "streamer.engine.stats",
    "SingerSink": "streamer.sinks.singer",
    "Sink": "streamer.sinks.base",
    "SinkCapabilities": "streamer.sinks.base",
    "TransactionalSink": "streamer.sinks.base",
    "resolve_sink": "streamer.sinks.registry",
    "SizeMismatchError": "streamer.errors",
    "Source": "streamer.providers.base",
    "SqliteSink": "streamer.sinks.sqlite",
    "StateError": "streamer.state",
    "StateStore": "streamer.state",
    "StreamConfig": "streamer.engine.config",
    "StreamerError": "streamer.errors",
    "URLExpiredError": "streamer.errors",
    "UrlSource": "streamer.providers.urls",
    "log_progress": "streamer.metrics",
    "run": "streamer.api",
    "run_sync": "streamer.api",
    "run_on_cluster": "streamer.distributed",
    "sink_from_url": "streamer.sinks.registry",
    "stream": "streamer.api",
    "stream_urls": "streamer.api",
    "struct_for": "streamer.typed",
}
"""Public name → the module that defines it."""

__all__ = [
    "Incremental",
    "EntitySchema",
    "InferredSchema",
    "BadLines",
    "BaseStateStore",
    "Batch",
    "CallbackSink",
    "Checkpoint",
    "ConfigError",
    "DecodeError",
    "DirSink",
    "DuckDBSink",
    "ExportError",
    "ExportFailedError",
    "ExportTimeoutError",
    "HTTPConfig",
    "HTTPError",
    "JsonFileStateStore",
    "JsonlSink",
    "ParquetSink",
    "LineTooLongError",
    "LogisenseSource",
    "MewsSource",
    "Part",
    "PartChangedError",
    "PartError",
    "RecordRefusedError",
    "RecordsRefusedError",
    "PartInfo",
    "PartStats",
    "PartitionedSource",
    "PostgresSink",
    "Progress",
    "RebillySource",
    "Record",
    "RecordStream",
    "RetryPolicy",
    "RetryableHTTPError",
    "RowCountMismatchError",
    "RunPlan",
    "RunStats",
    "SingerSink",
    "Sink",
    "SinkCapabilities",
    "SizeMismatchError",
    "Source",
    "SqliteSink",
    "TableSchema",
    "TypedOptions",
    "StateError",
    "StateStore",
    "StreamConfig",
    "StreamerError",
    "TransactionalSink",
    "URLExpiredError",
    "UrlSource",
    "__version__",
    "log_progress",
    "resolve_sink",
    "run",
    "run_on_cluster",
    "run_sync",
    "sink_from_url",
    "stream",
    "stream_urls",
    "struct_for",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later look-ups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
