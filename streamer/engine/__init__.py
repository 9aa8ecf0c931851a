"""The engine: stream parts concurrently, decode, and feed a sink under backpressure."""

from streamer.engine.config import StreamConfig
from streamer.engine.runner import run_export
from streamer.engine.stats import PartStats, RunStats

__all__ = ["PartStats", "RunStats", "StreamConfig", "run_export"]
