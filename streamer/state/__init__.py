"""Crash-safe resume: where a run records what its sink has acknowledged.

A state store keeps, per part, the checkpoint of the last batch the sink
accepted (byte offset, line, decoder state), the ids and statuses of the
exports a provider created, and — for sinks that can roll their output back —
the sink's commit mark.  :class:`JsonFileStateStore` is the default; any
backend that can read and write one small JSON document can subclass
:class:`BaseStateStore`.
"""

from streamer.state.store import BaseStateStore, CommittableSink, StateError, StateStore
from streamer.state.jsonfile import JsonFileStateStore, open_state
from streamer.state.session import RunHooks, begin_run, tracked_run

__all__ = [
    "BaseStateStore",
    "CommittableSink",
    "JsonFileStateStore",
    "StateError",
    "StateStore",
    "RunHooks",
    "begin_run",
    "tracked_run",
    "open_state",
]
