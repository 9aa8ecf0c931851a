"""streamer: stream SaaS data exports record by record, with backpressure and resume."""

from streamer._version import __version__
from streamer.api import RecordStream, run, run_sync, stream, stream_urls
from streamer.decoding.badlines import BadLines
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
    RetryableHTTPError,
    RowCountMismatchError,
    SizeMismatchError,
    StreamerError,
    URLExpiredError,
)
from streamer.http.retry import RetryPolicy
from streamer.http.session import HTTPConfig
from streamer.incremental import Incremental
from streamer.providers.base import Source
from streamer.providers.logisense import LogisenseSource
from streamer.providers.mews import MewsSource
from streamer.providers.rebilly import RebillySource
from streamer.providers.urls import UrlSource
from streamer.records import Batch, Checkpoint, Part, PartInfo, Record
from streamer.sinks.base import Sink
from streamer.sinks.callback import CallbackSink
from streamer.sinks.directory import DirSink
from streamer.sinks.duckdb import DuckDBSink
from streamer.sinks.jsonl import JsonlSink
from streamer.sinks.parquet import ParquetSink
from streamer.sinks.postgres import PostgresSink
from streamer.sinks.registry import sink_from_url
from streamer.sinks.singer import SingerSink
from streamer.sinks.sqlite import SqliteSink
from streamer.tables import TableSchema, TypedOptions
from streamer.state import BaseStateStore, JsonFileStateStore, StateError, StateStore
from streamer.metrics import Progress, log_progress
from streamer.workers import PartitionedSource

__all__ = [
    "Incremental",
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
    "RunStats",
    "SingerSink",
    "Sink",
    "SizeMismatchError",
    "Source",
    "SqliteSink",
    "TableSchema",
    "TypedOptions",
    "StateError",
    "StateStore",
    "StreamConfig",
    "StreamerError",
    "URLExpiredError",
    "UrlSource",
    "__version__",
    "log_progress",
    "run",
    "run_sync",
    "sink_from_url",
    "stream",
    "stream_urls",
]
