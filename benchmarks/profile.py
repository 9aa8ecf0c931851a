"""Where the library's time goes: ``python -m benchmarks.profile [--size-mb 400]``.

Runs the ``streamer-lib`` contender (null sink: nothing decodes the
records) and the ``streamer-lib-records`` one (a consumer reading
``record.data`` of every record) under py-spy with native frames, and sums the samples into the few buckets that matter on the
hot path.  Writes ``benchmarks/results/profile.md``.  Needs ``py-spy`` (the
``bench`` extra); sampling a child process may need ``CAP_SYS_PTRACE``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks.procs import ROOT, SimulatorProcess
from benchmarks.run import records_for

STARTUP = ("importlib", "_find_and_load", "_compile_bytecode")
"""Frames of interpreter start and imports: left out of the shares, because
py-spy's native unwinding slows imports several-fold (it reports ~2 s where
``python -c "import streamer"`` takes ~0.35 s); :func:`import_seconds` times
them without the profiler instead."""

BUCKETS = [
    ("cyclic GC", ("gc_collect", "collect_with_callback", "gc_collect_main", "deduce_unreachable", "visit_")),
    ("freeing records (dealloc)", ("dealloc", "Struct_dealloc", "_PyObject_Free", "free")),
    ("JSON syntax check (msgspec, no objects)", ("json_skip", "json_decode_raw", "_check_syntax")),
    ("orjson.loads (parse + allocate)", ("orjson", "Record._loads")),
    ("line splitting", ("LineSplitter",)),
    ("socket + HTTP parser (aiohttp)", ("recv", "llhttp", "data_received", "feed_data", "_read_ready", "readany", "iter_any")),
    ("engine: batches, queue, sink", ("_emit", "_deliver", "send", "receive", "NullSink")),
    ("decode loop (jsonl.py, Record)", ("JsonlDecoder", "Struct_vectorcall", "PartDownload._feed")),
]


def bucket_of(stack: list[str]) -> str:
    """Leaf-first: the innermost frame that names a bucket decides."""
    for frame in reversed(stack):
        for name, needles in BUCKETS:
            if any(n in frame for n in needles):
                return name
    return "other (event loop, ...)"


def summarize(raw: Path) -> tuple[Counter[str], int]:
    """Samples per bucket, start-up and imports left out (see :data:`STARTUP`)."""
    counts: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit() or any(s in stack for s in STARTUP):
            continue
        counts[bucket_of(stack.split(";"))] += int(n)
        total += int(n)
    return counts, total


def import_seconds(repeats: int = 5) -> float:
    """Median wall time of starting Python and importing what a contender imports."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import streamer, benchmarks.contenders"], cwd=ROOT, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    parser.add_argument("--size-mb", type=float, default=400)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "profile.md")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    sections = []
    with tempfile.TemporaryDirectory() as tmp, SimulatorProcess(
        records=records_for(args.size_mb), parts=4, gzip=False
    ) as export:
        urls_file = Path(tmp) / "urls.txt"
        urls_file.write_text("\n".join(export.urls) + "\n")
        for contender in ("streamer-lib", "streamer-lib-records"):
            raw = Path(tmp) / f"{contender}.txt"
            subprocess.run(
                [py_spy, "record", "--native", "-r", "250", "-f", "raw", "-o", str(raw), "--",
                 sys.executable, "-m", "benchmarks.contenders", contender, str(urls_file)],
                cwd=ROOT, check=True, capture_output=True,
            )  # fmt: skip
            counts, total = summarize(raw)
            rows = [f"#### {contender} ({total} samples after start-up, {export.wire_bytes / 1e6:.0f} MB, 4 parts)", "",
                    "| where | share of samples |", "|---|---|"]  # fmt: skip
            rows += [f"| {name} | {100 * n / total:.0f}% |" for name, n in counts.most_common()]
            sections.append("\n".join(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = (
        f"Profile of {stamp}, `python -m benchmarks.profile --size-mb {args.size_mb:g}` (py-spy, 250 Hz, "
        f"native frames). Start-up (interpreter + imports, {import_seconds():.2f} s median without the "
        "profiler) is left out of the shares."
    )
    args.out.write_text(head + "\n\n" + "\n\n".join(sections) + "\n")
    print(args.out.read_text())


if __name__ == "__main__":
    main()
