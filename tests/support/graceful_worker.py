"""A non-async worker process: ``run_sync`` into SQLite with ``stop_on=(SIGTERM,)``.

    python -m tests.support.graceful_worker DB MARKER_DIR WRITE_DELAY URL...

Each ``write`` first creates ``MARKER_DIR/write-<n>`` (so a test can signal
while a batch is being written), waits ``WRITE_DELAY`` seconds, then commits
the batch.  Prints the run's stats as JSON on stdout and exits 0, also when
stopped by SIGTERM.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import anyio

import streamer
from streamer.records import Batch
from streamer.sinks.sqlite import SqliteSink


class SlowSqlite(SqliteSink):
    def __init__(self, path: str, markers: Path, delay: float) -> None:
        super().__init__(path, layout="json")  # the tests read the record column
        self.markers = markers
        self.delay = delay
        self.writes = 0
        self.completed = 0

    async def write(self, batch: Batch) -> None:
        self.writes += 1
        (self.markers / f"write-{self.writes}").touch()
        await anyio.sleep(self.delay)
        await super().write(batch)
        self.completed += 1


def main() -> int:
    db, markers, delay, *urls = sys.argv[1:]
    sink = SlowSqlite(db, Path(markers), float(delay))
    stats = streamer.run_sync(
        streamer.UrlSource(urls, entity_type="OrderItem"),
        sink,
        resume=True,
        stop_on=(signal.SIGTERM,),
        batch_size=100,
    )
    print(json.dumps({"records": stats.records, "stopped_by": stats.stopped_by, "writes_started": sink.writes,
                      "writes_completed": sink.completed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
