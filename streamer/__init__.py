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
    ExportTimeoutError,
    HTTPError,
    LineTooLongError,
    PartChangedError,
    PartError,
    RetryableHTTPError,
    SizeMismatchError,
    StreamerError,
    URLExpiredError,
)
from streamer.http.retry import RetryPolicy
from streamer.http.session import HTTPConfig
from streamer.providers.base import Source
from streamer.providers.urls import UrlSource
from streamer.records import Batch, Checkpoint, Part, PartInfo, Record
from streamer.sinks.base import Sink
from streamer.sinks.callback import CallbackSink
from streamer.sinks.jsonl import JsonlSink

__all__ = [
    "BadLines",
    "Batch",
    "CallbackSink",
    "Checkpoint",
    "ConfigError",
    "DecodeError",
    "ExportError",
    "ExportTimeoutError",
    "HTTPConfig",
    "HTTPError",
    "JsonlSink",
    "LineTooLongError",
    "Part",
    "PartChangedError",
    "PartError",
    "PartInfo",
    "PartStats",
    "Record",
    "RecordStream",
    "RetryPolicy",
    "RetryableHTTPError",
    "RunStats",
    "SizeMismatchError",
    "Sink",
    "Source",
    "StreamConfig",
    "StreamerError",
    "URLExpiredError",
    "UrlSource",
    "__version__",
    "run",
    "run_sync",
    "stream",
    "stream_urls",
]
