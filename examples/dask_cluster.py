"""One export, its parts as tasks on a Dask cluster, every record exactly once.

    python examples/dask_cluster.py --workers 2 --records 60000 --parts 6 --out out/
    python examples/dask_cluster.py --workers 2 --sink postgresql://postgres@127.0.0.1:5432/postgres

The coordinator (this process) serves an export from a local simulator —
in production it would create the vendor export once — starts a local
cluster of worker *processes* (``streamer.distributed.connect``; give
``--scheduler tcp://HOST:PORT`` for a real one, whose workers must reach
the files) and calls ``streamer.distributed.run_on_cluster``:

* one task per part, keyed by its part key; each worker streams its part
  into ``--sink`` (``dir://`` — files per part plus one manifest — or
  ``postgresql://``), committing the part's checkpoint with its records;
* kill a worker process (``kill -9``) and Dask reruns its task, which
  resumes at the committed checkpoint; kill this process and rerun it and
  only what is missing is streamed;
* ``on_progress`` logs one JSON line a second with the cluster's totals,
  ``on_part`` prints one JSON line per finished part on stdout (worker,
  line it resumed after, peak RSS of that worker process).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

import streamer
from streamer.cli.demo import BackgroundSimulator
from streamer.distributed import PartResult, connect, run_on_cluster
from streamer.logs import JsonFormatter
from streamer.metrics import log_progress
from streamer.simulator import Simulator


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, help="local worker processes (default 2)")
    where.add_argument("--scheduler", help="tcp://HOST:PORT of an existing cluster")
    parser.add_argument("--records", type=int, default=60_000)
    parser.add_argument("--parts", type=int, default=6)
    parser.add_argument("--out", default="dask-cluster-out", help="directory of the dir:// sink")
    parser.add_argument("--sink", help="postgresql://... instead of the directory")
    parser.add_argument("--bytes-per-second", type=float, default=None, help="throttle each file (to try a kill)")
    args = parser.parse_args()

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.getLogger("streamer").addHandler(handler)
    logging.getLogger("streamer").setLevel(logging.INFO)
    sink_url = args.sink or f"dir:///{Path(args.out).resolve()}"

    def on_part(result: PartResult) -> None:
        summary = {
            "part": result.key,
            "records": result.records,
            "worker": result.worker,
            "resumed_after_line": result.resumed_from_line,
            "already_done": result.already_done,
            "peak_rss_mb": round(result.peak_rss / 2**20, 1),
        }
        print(json.dumps(summary), flush=True)

    sim = Simulator(seed=3)
    sim.faults.bytes_per_second = args.bytes_per_second
    export = sim.add_export("OrderItem", records=args.records, parts=args.parts)
    with BackgroundSimulator(sim):
        source = streamer.UrlSource(sim.file_urls(export), entity_type="OrderItem")
        cluster = {"scheduler": args.scheduler} if args.scheduler else {"workers": args.workers or 2}
        with connect(**cluster) as client:
            run = run_on_cluster(
                source, sink_url, client=client, on_part=on_part, on_progress=log_progress(), progress_interval=1.0
            )
            stats = asyncio.run(run)
    print(json.dumps({"records": stats.records, "parts": len(stats.parts), "seconds": round(stats.elapsed, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
