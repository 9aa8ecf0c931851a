"""Moving a run's counters the way the engine does, for the progress-display tests."""

from __future__ import annotations

from streamer.engine.stats import PartStats, RunStats


def advance(stats: RunStats, part: PartStats, *, received: int = 0, records: int = 0) -> None:
    """``received`` bytes and ``records`` records more, on the part and on the run alike.

    The download counts bytes and the runner counts delivered records on
    both; a test that moved only one of them would show a display the engine
    never produces.
    """
    part.bytes += received
    stats.bytes += received
    part.records += records
    stats.records += records
