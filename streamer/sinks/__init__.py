"""Where records go: anything with ``open`` / ``write(batch)`` / ``close``."""

from streamer.sinks.base import Sink
from streamer.sinks.callback import CallbackSink
from streamer.sinks.jsonl import JsonlSink

__all__ = ["CallbackSink", "JsonlSink", "Sink"]
