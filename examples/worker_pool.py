"""One export, N worker processes, each streaming its share of the parts.

    python examples/worker_pool.py --workers 3 --records 60000 --parts 6 --out out/

The coordinator (this process) knows the export's files — here it starts a
local simulator and lists them; in production it would create the vendor
export once and read its file list.  Each worker is a plain synchronous
process (``multiprocessing``, no event loop of its own to manage) that calls
``streamer.run_sync`` on a :class:`~streamer.workers.PartitionedSource`
(parts whose index modulo N is its number) into its own SQLite file, with:

* ``stop_on=(SIGTERM, SIGINT)``: on either a worker finishes its current batch,
  commits it and exits 0; rerunning resumes from what each sink committed
  (``resume=True``);
* ``on_progress=``: a metrics callback, here logging a JSON line per worker
  every second (records, bytes, retries, lag, ETA).

The coordinator prints one JSON summary line per worker on stdout and
forwards SIGTERM/SIGINT to the workers.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import queue
import signal
import sys
from pathlib import Path

import streamer
from streamer.cli.demo import BackgroundSimulator
from streamer.logs import JsonFormatter
from streamer.metrics import Progress
from streamer.simulator import Simulator
from streamer.sinks.sqlite import SqliteSink
from streamer.workers import PartitionedSource


def worker(index: int, workers: int, urls: list[str], sizes: list[int], out: str, results: multiprocessing.Queue) -> None:
    """The body of one worker process: synchronous code calling the library."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger(f"streamer.example.worker{index}")
    logging.getLogger("streamer").addHandler(handler)
    logging.getLogger("streamer").setLevel(logging.INFO)

    def on_progress(stats: streamer.RunStats) -> None:
        progress = Progress.of(stats)
        log.info("worker %d: %s", index, progress.describe(), extra={"worker": index, "progress": progress.as_dict()})

    source = PartitionedSource(streamer.UrlSource(urls, entity_type="OrderItem", sizes=sizes), index, workers)
    stats = streamer.run_sync(
        source,
        SqliteSink(Path(out) / f"worker-{index}.db"),
        resume=True,
        stop_on=(signal.SIGTERM, signal.SIGINT),
        on_progress=on_progress,
        progress_interval=1.0,
    )
    results.put({"worker": index, "records": stats.records, "parts": len(stats.parts), "stopped_by": stats.stopped_by})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--records", type=int, default=60_000)
    parser.add_argument("--parts", type=int, default=6)
    parser.add_argument("--out", default="worker-pool-out")
    parser.add_argument("--bytes-per-second", type=float, default=None, help="throttle each file (to try SIGTERM)")
    args = parser.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)

    sim = Simulator(seed=3)
    sim.faults.bytes_per_second = args.bytes_per_second
    export = sim.add_export("OrderItem", records=args.records, parts=args.parts)
    with BackgroundSimulator(sim):
        urls = sim.file_urls(export)
        sizes = [export.file_size(i) for i in range(len(export.files))]
        context = multiprocessing.get_context("spawn")
        results: multiprocessing.Queue = context.Queue()
        processes = [
            context.Process(target=worker, args=(i, args.workers, urls, sizes, args.out, results), name=f"worker-{i}")
            for i in range(args.workers)
        ]
        for process in processes:
            process.start()

        def forward(signum: int, _frame: object) -> None:
            for process in processes:
                if process.is_alive():
                    process.terminate()  # SIGTERM: the worker finishes its batch and exits 0

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        summaries = []
        while len(summaries) < len(processes):
            try:
                summaries.append(results.get(timeout=0.5))
            except queue.Empty:
                if not any(p.is_alive() for p in processes) and results.empty():
                    break  # a worker died without a summary: its exit code says so
        for process in processes:
            process.join()
    for summary in sorted(summaries, key=lambda s: s["worker"]):
        print(json.dumps(summary))
    return max((p.exitcode or 0) for p in processes)


if __name__ == "__main__":
    sys.exit(main())
