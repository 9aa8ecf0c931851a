"""Throughput per sink: ``python -m benchmarks.sinks [--mb 200] [--postgres DSN]``.

A simulator process serves one OrderItem export (~1.4 kB Mews-shaped
records, 4 parts, ``--mb`` MB in all) on 127.0.0.1; this process streams it
into each sink in turn through ``streamer.run`` (the CLI's GC tuning
applied, as ``streamer urls --sink ...`` would) and prints one line per sink:
records/s and MB/s, wall clock from the first request to the sink's close.
The ``null`` sink (drops every batch) is the engine's own ceiling.

PostgreSQL: ``--postgres DSN``, else a throwaway server is started from the
local server binaries (``tests/support/postgres.py``) when there are any.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import streamer
from streamer.cli.execute import tune_gc
from streamer.sinks.base import Sink
from streamer.sinks.registry import sink_from_url

RECORD_BYTES = 1400
"""About the size of one simulated OrderItem line (measured: 32 MB for 22,727 records)."""


def _null() -> Sink:
    return streamer.CallbackSink(lambda batch: None)


def sinks(workdir: Path, postgres: str | None) -> dict[str, Callable[[], Sink]]:
    table: dict[str, Callable[[], Sink]] = {
        "null": _null,
        "jsonl file": lambda: sink_from_url(f"jsonl:///{workdir}/out.jsonl"),
        "dir": lambda: sink_from_url(f"dir:///{workdir}/dir?rotate_mb=100"),
        "dir gzip": lambda: sink_from_url(f"dir:///{workdir}/dirgz?gzip=1&rotate_mb=100"),
        "sqlite": lambda: sink_from_url(f"sqlite:///{workdir}/out.db"),
        "duckdb": lambda: sink_from_url(f"duckdb:///{workdir}/out.duckdb"),
    }
    if postgres:
        table["postgresql"] = lambda: sink_from_url(f"{postgres}?schema=bench_{uuid.uuid4().hex[:8]}")
    return table


@contextlib.contextmanager
def postgres_server(dsn: str | None) -> Iterator[str | None]:
    if dsn:
        yield dsn
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.support.postgres import find_bindir, temporary_postgres

    if find_bindir() is None:
        print("postgresql: skipped (no server binaries; pass --postgres DSN)", file=sys.stderr)
        yield None
        return
    with temporary_postgres() as started:
        yield started


async def stream_into(sink: Sink, urls: list[str], sizes: list[int], batch_size: int) -> tuple[int, int, float]:
    started = time.perf_counter()
    stats = await streamer.run(
        streamer.UrlSource(urls, entity_type="OrderItem", sizes=sizes), sink, batch_size=batch_size
    )
    return stats.records, stats.bytes, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=200.0, help="size of the export in MB")
    parser.add_argument("--parts", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--postgres", help="DSN of a server to write to (default: start a throwaway one)")
    parser.add_argument("--only", action="append", help="run only these sinks (repeatable)")
    parser.add_argument("--json", action="store_true", help="one JSON object per sink instead of a table")
    args = parser.parse_args()
    records = int(args.mb * 1e6 / RECORD_BYTES)

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.support.simulator_process import simulator_process

    tune_gc()
    workdir = Path(tempfile.mkdtemp(prefix="streamer-sinks-bench-"))
    results: list[dict[str, Any]] = []
    try:
        with simulator_process("--records", str(records), "--parts", str(args.parts)) as (_, index), \
                postgres_server(args.postgres) as dsn:
            files = index["Exports"][0]["Files"]
            urls, sizes = [f["Url"] for f in files], [f["SizeInBytes"] for f in files]
            if not args.json:
                print(f"{records:,} records, {sum(sizes) / 1e6:.0f} MB in {len(urls)} parts; batch size {args.batch_size}")
                print(f"{'sink':<12} {'records/s':>10} {'MB/s':>7} {'seconds':>8}")
            for name, make in sinks(workdir, dsn).items():
                if args.only and name not in args.only:
                    continue
                delivered, received, seconds = asyncio.run(stream_into(make(), urls, sizes, args.batch_size))
                assert delivered == records, (name, delivered, records)
                result = {"sink": name, "records": delivered, "bytes": received, "seconds": round(seconds, 2),
                          "records_per_second": round(delivered / seconds), "mb_per_second": round(received / seconds / 1e6, 1)}
                results.append(result)
                if args.json:
                    print(json.dumps(result))
                else:
                    print(f"{name:<12} {result['records_per_second']:>10,} {result['mb_per_second']:>7} {seconds:>8.1f}")
                sys.stdout.flush()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
