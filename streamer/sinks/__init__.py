"""Where records go: anything with ``open`` / ``write(batch)`` / ``close``."""

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

__all__ = [
    "CallbackSink",
    "DirSink",
    "DuckDBSink",
    "JsonlSink",
    "ParquetSink",
    "PostgresSink",
    "SingerSink",
    "Sink",
    "SqliteSink",
    "sink_from_url",
]
