"""The benchmark runner: ``python -m benchmarks.run [--quick]``.

Starts ``streamer simulate`` on 127.0.0.1 (its own process), lists the export
it serves, and runs every contender in its own process, round-robin, several
times: the limits (raw download, in-memory parse), streamer (library to a null
sink, CLI to /dev/null, slow sink), and the loops users write instead.  Then
the scaling runs (export size, concurrency, part count) and the in-memory
micro-measurements.  Writes ``results.json``, ``results.md`` and
``throughput.png`` to ``--out`` and, for a full run, the results section of
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.procs import ROOT, Export, SimulatorProcess, measure, run_contender

RECORD_BYTES = 1398
"""Average size of a simulated Mews OrderItem line (used to size exports)."""
MB = 1e6

LIMITS = ["curl-raw", "aiohttp-raw", "orjson-parse-limit", "msgspec-parse-limit"]
STREAMER = ["streamer-lib", "streamer-lib-records", "streamer-cli", "streamer-slow-sink"]
ALTERNATIVES_PLAIN = [
    "requests-json",
    "aiohttp-lines-json",
    "aiohttp-lines-orjson",
    "aiohttp-chunks-orjson",
    "aiohttp-chunks-msgspec",
]
ALTERNATIVES_GZIP = ["requests-json", "aiohttp-chunks-orjson", "aiohttp-chunks-msgspec"]
TUNING = [
    "streamer-lib-app-gc",
    "streamer-cli-no-gc-tuning",
    "streamer-lib-uvloop",
    "streamer-lib-small-batches",
]
IN_MEMORY = {"orjson-parse-limit", "msgspec-parse-limit"}
"""Timed on the parse only (the download into memory before it is not counted)."""


@dataclass
class Plan:
    size_mb: float
    parts: int
    repeats: int
    sizes_mb: list[float]
    concurrency: list[int]
    part_counts: list[int]
    scaling_repeats: int
    gzip: bool = True
    tuning: bool = True
    notes: list[str] = field(default_factory=list)

    @classmethod
    def full(cls) -> Plan:
        return cls(
            size_mb=1050, parts=8, repeats=3, sizes_mb=[105, 1050, 4200],
            concurrency=[1, 2, 4, 8], part_counts=[1, 8, 32], scaling_repeats=1,
        )  # fmt: skip

    @classmethod
    def quick(cls, size_mb: float) -> Plan:
        return cls(
            size_mb=size_mb, parts=8, repeats=1, sizes_mb=[size_mb / 2, size_mb],
            concurrency=[1, 4], part_counts=[2, 8], scaling_repeats=1,
        )  # fmt: skip


def records_for(size_mb: float) -> int:
    return max(1, round(size_mb * MB / RECORD_BYTES))


def _has_curl() -> bool:
    return shutil.which("curl") is not None


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


# -------------------------------------------------------------------- running


def run_round_robin(
    names: list[str], export: Export, repeats: int, workdir: Path, config: dict[str, Any] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Every contender ``repeats`` times, interleaved so drift hits all alike."""
    urls_file = workdir / "urls.txt"
    urls_file.write_text("\n".join(export.urls) + "\n")
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for round_ in range(repeats):
        for name in names:
            row = run_contender(name, urls_file, export.urls, config)
            runs[name].append(row)
            _log(f"  [{round_ + 1}/{repeats}] {name:28s} {row['wall']:7.2f}s wall  {row['cpu']:7.2f}s cpu  "
                 f"{row['peak_rss_mb']:7.1f} MB rss  {row['records']} records")  # fmt: skip
    return runs


def summarize(name: str, rows: list[dict[str, Any]], decoded_bytes: int) -> dict[str, Any]:
    """Medians (and min–max spread) of the runs of one contender."""
    timed = "inner_wall" if name in IN_MEMORY or name == "curl-raw" else "wall"
    walls = [r[timed] for r in rows]
    wall = statistics.median(walls)
    records = rows[0]["records"]
    cpu = statistics.median([r["inner_wall"] if name in IN_MEMORY else r["cpu"] for r in rows])
    return {
        "name": name,
        "runs": len(rows),
        "wall": wall,
        "wall_min": min(walls),
        "wall_max": max(walls),
        "cpu": cpu,
        "peak_rss_mb": statistics.median([r["peak_rss_mb"] for r in rows]),
        "peak_rss_mb_max": max(r["peak_rss_mb"] for r in rows),
        "records": records,
        "records_all_runs": [r["records"] for r in rows],
        "wire_mb": rows[0]["wire_bytes"] / MB,
        "mb_per_s": decoded_bytes / MB / wall,
        "mb_per_s_min": decoded_bytes / MB / max(walls),
        "mb_per_s_max": decoded_bytes / MB / min(walls),
        "records_per_s": (records / wall) if records else None,
        "timed": "parse only (in memory)" if name in IN_MEMORY else "process wall",
        "raw": rows,
    }


def main_section(plan: Plan, gzip: bool, workdir: Path, decoded_bytes: int | None) -> dict[str, Any]:
    names = [*LIMITS, *STREAMER, *(ALTERNATIVES_GZIP if gzip else ALTERNATIVES_PLAIN)]
    if not gzip and plan.tuning:
        names += TUNING
    if not _has_curl():
        names.remove("curl-raw")
    if "streamer-lib-uvloop" in names and not _has_module("uvloop"):
        names.remove("streamer-lib-uvloop")
    records = records_for(plan.size_mb)
    label = "gzip" if gzip else "plain"
    _log(f"{label}: {records} records in {plan.parts} parts")
    with SimulatorProcess(records=records, parts=plan.parts, gzip=gzip) as export:
        _log(f"  serving {export.wire_bytes / MB:.1f} MB ({label}) at {export.base_url}")
        runs = run_round_robin(names, export, plan.repeats, workdir)
    decoded = decoded_bytes if decoded_bytes is not None else export.wire_bytes
    return {
        "encoding": label,
        "records": export.records,
        "parts": plan.parts,
        "wire_mb": export.wire_bytes / MB,
        "decoded_mb": decoded / MB,
        "contenders": {name: summarize(name, rows, decoded) for name, rows in runs.items()},
    }


def scaling_section(plan: Plan, workdir: Path, main: dict[str, Any]) -> dict[str, Any]:
    """Throughput and peak RSS against export size, concurrency and part count."""
    by_size = []
    for size in plan.sizes_mb:
        if abs(size - plan.size_mb) < 1e-9:
            point = {n: main["contenders"][n] for n in ("streamer-lib", "streamer-slow-sink")}
            decoded = main["decoded_mb"] * MB
        else:
            with SimulatorProcess(records=records_for(size), parts=plan.parts, gzip=False) as export:
                _log(f"size {export.wire_bytes / MB:.0f} MB")
                runs = run_round_robin(["streamer-lib", "streamer-slow-sink"], export, plan.scaling_repeats, workdir)
            decoded = export.wire_bytes
            point = {n: summarize(n, rows, decoded) for n, rows in runs.items()}
        by_size.append({"size_mb": decoded / MB, "contenders": point})
    by_concurrency = []
    with SimulatorProcess(records=records_for(plan.size_mb), parts=plan.parts, gzip=False) as export:
        for c in plan.concurrency:
            _log(f"concurrency {c}")
            if c == 4:
                summary = main["contenders"]["streamer-lib"]
            else:
                runs = run_round_robin(["streamer-lib"], export, plan.scaling_repeats, workdir, {"concurrency": c})
                summary = summarize("streamer-lib", runs["streamer-lib"], export.wire_bytes)
            by_concurrency.append({"concurrency": c, **_point(summary)})
    by_parts = []
    for parts in plan.part_counts:
        if parts == plan.parts:
            summary = main["contenders"]["streamer-lib"]
        else:
            with SimulatorProcess(records=records_for(plan.size_mb), parts=parts, gzip=False) as export:
                _log(f"parts {parts}")
                runs = run_round_robin(["streamer-lib"], export, plan.scaling_repeats, workdir)
                summary = summarize("streamer-lib", runs["streamer-lib"], export.wire_bytes)
        by_parts.append({"parts": parts, **_point(summary)})
    return {"by_size": by_size, "by_concurrency": by_concurrency, "by_parts": by_parts}


def _point(summary: dict[str, Any]) -> dict[str, Any]:
    keys = ("wall", "cpu", "peak_rss_mb", "mb_per_s", "records_per_s", "records", "runs")
    return {k: summary[k] for k in keys}


def micro_section(export_records: int, workdir: Path) -> dict[str, Any]:
    """In-memory measurements (Record vs dict, process-pool transfer) in a child."""
    with SimulatorProcess(records=min(export_records, 100_000), parts=1, gzip=False) as export:
        urls_file = workdir / "micro-urls.txt"
        urls_file.write_text(export.urls[0] + "\n")
        m = measure([sys.executable, "-m", "benchmarks.micro", str(urls_file)])
    return json.loads(m.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- environment


def machine() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in ("streamer", "aiohttp", "orjson", "msgspec", "anyio", "requests", "uvloop"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    curl = None
    if _has_curl():
        curl = measure(["curl", "--version"]).stdout.split()[1]
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "curl": curl,
        "load_average_at_start": os.getloadavg(),
    }


def _checkpoint(results: dict[str, Any], out: Path) -> None:
    """What is measured so far, in case a long run is interrupted."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "partial.json").write_text(json.dumps(results, indent=1, default=str) + "\n")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="Smoke size: one run of everything on a few MB.")
    parser.add_argument("--size-mb", type=float, help="Export size (default 1100, or 8 with --quick).")
    parser.add_argument("--repeats", type=int, help="Runs per contender (default 3, or 1 with --quick).")
    parser.add_argument("--no-gzip", action="store_true", help="Skip the gzip export.")
    parser.add_argument("--no-scaling", action="store_true", help="Skip the size/concurrency/parts scaling.")
    parser.add_argument("--no-tuning", action="store_true", help="Skip the GC/uvloop/batch-size variants.")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="Results directory.")
    parser.add_argument(
        "--update-readme",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="Rewrite the results section of benchmarks/README.md (default: on for full runs).",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    plan = Plan.quick(args.size_mb or 8) if args.quick else Plan.full()
    if args.size_mb and not args.quick:
        plan.size_mb = args.size_mb
        plan.sizes_mb = [args.size_mb / 10, args.size_mb, args.size_mb * 4]
    if args.repeats:
        plan.repeats = args.repeats
    plan.gzip = not args.no_gzip
    plan.tuning = not args.no_tuning
    command = "python -m benchmarks.run" + (" " + " ".join(sys.argv[1:]) if argv is None and sys.argv[1:] else "")

    started = time.time()
    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "quick": args.quick,
        "machine": machine(),
        "plan": {k: v for k, v in vars(plan).items() if k != "notes"},
    }
    with tempfile.TemporaryDirectory(prefix="streamer-bench-") as tmp:
        workdir = Path(tmp)
        plain = main_section(plan, gzip=False, workdir=workdir, decoded_bytes=None)
        results["plain"] = plain
        _checkpoint(results, args.out)
        if plan.gzip:
            results["gzip"] = main_section(plan, gzip=True, workdir=workdir, decoded_bytes=round(plain["decoded_mb"] * MB))
            _checkpoint(results, args.out)
        if not args.no_scaling:
            results["scaling"] = scaling_section(plan, workdir, plain)
            _checkpoint(results, args.out)
        results["micro"] = micro_section(plain["records"] if not args.quick else 3000, workdir)
    results["machine"]["load_average_at_end"] = os.getloadavg()
    results["duration_s"] = time.time() - started

    from benchmarks.report import write_all

    update_readme = (not args.quick) if args.update_readme is None else args.update_readme
    write_all(results, args.out, update_readme=update_readme)
    (args.out / "partial.json").unlink(missing_ok=True)
    _log(f"results in {args.out} ({results['duration_s']:.0f}s)")
    return results


if __name__ == "__main__":
    main()
