"""Scale-out on Dask: ``python -m benchmarks.scaleout [--mb 150] [--parts 8]``.

One run, side by side, of three CPU-bound paths over the same export
(Mews-shaped OrderItems, ~1.4 kB each, served by a simulator process):

* ``postgresql``: rows upserted into PostgreSQL (binary COPY + ``ON CONFLICT``,
  checkpoint in the same transaction) — JSONB rows, the sink's only layout;
* ``dir gzip``: JSONL per part into ``dir://...?gzip=1`` (zlib does the work);
* ``typed decode``: a consumer that decodes every record into its msgspec
  ``OrderItem`` Struct (msgspec, from the raw line) and drops it.

Each path runs as today's single process (``streamer.run``, 4 parts at
once on one event loop) and on a fresh ``LocalCluster`` of 1 and then 2
worker processes (one thread each, one part per worker at a time) through
``streamer.distributed.run_on_cluster``.  Reported: wall time of the run
(cluster start-up excluded, reported apart), the ratios, peak RSS of each
worker process, and the coordinator's own CPU time and peak RSS.

Every process here shares the machine: on 2 cores the simulator process
and PostgreSQL's backends compete with the workers for the same cores, so
2 workers cannot double a path whose server side is as heavy as its client.
The single process's CPU time over its wall time (its share of a core) and
the 1-minute load average after each path say how much of the machine the
run actually had.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import resource
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import msgspec  # noqa: E402

import streamer  # noqa: E402
import streamer.providers.mews.entities  # noqa: E402,F401  (registers the typed OrderItem)
from streamer.cli.execute import tune_gc  # noqa: E402
from streamer.distributed import CLUSTER_TARGETS, PartSpec, connect, run_on_cluster  # noqa: E402
from streamer.distributed.worker import peak_rss  # noqa: E402
from streamer.entities import entity_struct  # noqa: E402
from streamer.records import Batch, Checkpoint  # noqa: E402
from streamer.sinks.base import Sink  # noqa: E402
from streamer.sinks.registry import sink_from_url  # noqa: E402

RECORD_BYTES = 1400
TYPED_SCHEME = "bench-typed"


ORDER_ITEM = msgspec.json.Decoder(entity_struct("mews", "OrderItem"))
"""Mews' typed OrderItem (nested Amount Structs, datetimes): the records here are plain URLs' records."""


def decode_typed(batch: Batch) -> None:
    decode = ORDER_ITEM.decode
    for record in batch.records:
        decode(record.raw)


class TypedDecodeTarget:
    """The decoding consumer as a cluster target (benchmark only: it keeps nothing, so no resume)."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def committed(self) -> dict[str, Checkpoint]:
        return {}

    @contextlib.asynccontextmanager
    async def open_part(self, spec: PartSpec) -> AsyncIterator[Sink]:
        yield streamer.CallbackSink(decode_typed)

    async def finish(self) -> None:
        return None


CLUSTER_TARGETS[TYPED_SCHEME] = TypedDecodeTarget  # workers import this module (client.run) to see it


def workloads(workdir: Path, dsn: str | None) -> dict[str, Callable[[], tuple[str, Callable[[], Sink]]]]:
    """name → () → (cluster sink URL, single-process sink factory); fresh places each call."""

    def postgres() -> tuple[str, Callable[[], Sink]]:
        url = f"{dsn}?schema=scaleout_{uuid.uuid4().hex[:8]}"
        return url, lambda: sink_from_url(url)

    def dir_gzip() -> tuple[str, Callable[[], Sink]]:
        path = workdir / uuid.uuid4().hex[:8]
        url = f"dir:///{path}?gzip=1"
        return url, lambda: sink_from_url(url)

    def typed() -> tuple[str, Callable[[], Sink]]:
        return f"{TYPED_SCHEME}:-", lambda: streamer.CallbackSink(decode_typed)

    table: dict[str, Callable[[], tuple[str, Callable[[], Sink]]]] = {}
    if dsn:
        table["postgresql"] = postgres
    table["dir gzip"] = dir_gzip
    table["typed decode"] = typed
    return table


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def single_process(make_sink: Callable[[], Sink], source: streamer.UrlSource, batch_size: int) -> dict[str, Any]:
    cpu = _cpu_seconds()
    started = time.perf_counter()
    stats = asyncio.run(streamer.run(source, make_sink(), batch_size=batch_size))
    seconds = time.perf_counter() - started
    return {"records": stats.records, "seconds": seconds, "cpu_seconds": _cpu_seconds() - cpu}


def on_cluster(workers: int, sink_url: str, source: streamer.UrlSource, batch_size: int) -> dict[str, Any]:
    started = time.perf_counter()
    with connect(workers=workers) as client:
        startup = time.perf_counter() - started
        client.run(importlib.import_module, __name__ if __name__ != "__main__" else "benchmarks.scaleout")
        client.run(tune_gc)
        cpu = _cpu_seconds()
        started = time.perf_counter()
        stats = asyncio.run(run_on_cluster(source, sink_url, client=client, batch_size=batch_size))
        seconds = time.perf_counter() - started
        coordinator_cpu = _cpu_seconds() - cpu
        worker_rss = sorted(client.run(peak_rss).values())
    return {
        "records": stats.records,
        "seconds": seconds,
        "startup_seconds": startup,
        "coordinator_cpu_seconds": coordinator_cpu,
        "worker_peak_rss_mb": [round(r / 2**20) for r in worker_rss],
    }


@contextlib.contextmanager
def _postgres(dsn: str | None, wanted: bool) -> Iterator[str | None]:
    if not wanted:
        yield None
        return
    from benchmarks.sinks import postgres_server

    with postgres_server(dsn) as started:
        yield started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=150.0, help="size of the export in MB")
    parser.add_argument("--parts", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--postgres", help="DSN of a server to write to (default: start a throwaway one)")
    parser.add_argument("--only", action="append", help="run only these paths (repeatable)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="where scaleout.{json,md} go")
    args = parser.parse_args()
    records = int(args.mb * 1e6 / RECORD_BYTES)

    from tests.support.simulator_process import simulator_process

    tune_gc()
    workdir = Path(tempfile.mkdtemp(prefix="streamer-scaleout-"))
    rows: list[dict[str, Any]] = []
    wants_pg = not args.only or "postgresql" in args.only
    try:
        with simulator_process("--records", str(records), "--parts", str(args.parts)) as (_, index), \
                _postgres(args.postgres, wants_pg) as dsn:
            files = index["Exports"][0]["Files"]
            urls, sizes = [f["Url"] for f in files], [f["SizeInBytes"] for f in files]
            print(f"{records:,} records, {sum(sizes) / 1e6:.0f} MB in {len(urls)} parts", file=sys.stderr)
            for name, make in workloads(workdir, dsn).items():
                if args.only and name not in args.only:
                    continue
                source = streamer.UrlSource(urls, entity_type="OrderItem", sizes=sizes)
                single = single_process(make()[1], source, args.batch_size)
                one = on_cluster(1, make()[0], source, args.batch_size)
                two = on_cluster(2, make()[0], source, args.batch_size)
                for result in (single, one, two):
                    assert result["records"] == records, (name, result["records"], records)
                row = {
                    "path": name,
                    "mb": round(sum(sizes) / 1e6),
                    "single_s": round(single["seconds"], 2),
                    "one_worker_s": round(one["seconds"], 2),
                    "two_workers_s": round(two["seconds"], 2),
                    "two_vs_one": round(one["seconds"] / two["seconds"], 2),
                    "two_vs_single": round(single["seconds"] / two["seconds"], 2),
                    "worker_peak_rss_mb": two["worker_peak_rss_mb"],
                    "coordinator_cpu_s": round(two["coordinator_cpu_seconds"], 2),
                    "single_cpu_s": round(single["cpu_seconds"], 2),
                    "single_cpu_share": round(single["cpu_seconds"] / single["seconds"], 2),
                    "load_average": round(os.getloadavg()[0], 1),
                    "cluster_startup_s": round(two["startup_seconds"], 1),
                }
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report = render(rows, records, peak_rss())
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scaleout.json").write_text(json.dumps({"records": records, "rows": rows}, indent=2) + "\n")
    (args.out / "scaleout.md").write_text(report)
    return 0


def render(rows: list[dict[str, Any]], records: int, coordinator_rss: int) -> str:
    lines = [
        f"Scale-out on this 2-core machine, {records:,} records, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        "| path | MB | single process s | 1 worker s | 2 workers s | 2 vs 1 | 2 vs single "
        "| peak RSS per worker MB | coordinator CPU s | single process CPU s (share of a core) "
        "| cluster start s | load average |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['path']} | {r['mb']} | {r['single_s']} | {r['one_worker_s']} | {r['two_workers_s']} "
            f"| {r['two_vs_one']}x | {r['two_vs_single']}x | {', '.join(map(str, r['worker_peak_rss_mb']))} "
            f"| {r['coordinator_cpu_s']} | {r['single_cpu_s']} ({r['single_cpu_share']:.0%}) "
            f"| {r['cluster_startup_s']} | {r['load_average']} |"
        )
    lines += ["", f"Coordinator peak RSS (the whole benchmark process): {coordinator_rss / 2**20:.0f} MB.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
