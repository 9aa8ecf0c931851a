"""Export → typed tables, side by side: ``python -m benchmarks.typed_tables [--size-mb 200] [--out FILE.md]``.

One simulator export of Mews-shaped OrderItems (``--size-mb`` MB, 4 parts)
on 127.0.0.1; each contender is its own measured process (wall time from
process start to exit, peak RSS from ``wait4``):

* streamer's CLI into typed DuckDB, PostgreSQL, SQLite and Parquet (the
  default typed layout; columns inferred from the data, as for ``urls``);
* the limits: DuckDB ``read_json`` of the same files already on disk into a
  typed table (``CREATE TABLE AS``, memory_limit 256MB), and a bare asyncpg
  binary COPY of the same typed rows (read from streamer's Parquet output
  before the clock starts; only the COPY is timed);
* dlt 1.31 into DuckDB, when ``.venv-dlt`` holds it (``pip install
  "dlt[duckdb]==1.31.*" requests`` into a separate venv): a resource that
  streams the same URLs with requests and yields 1000-record pages, once with
  ``max_table_nesting=0`` append and once with the default merge on Id.

``--before DIR`` also runs each streamer contender from the code at ``DIR``
(e.g. ``git archive main | tar -x -C DIR``), right after the same contender
from this checkout, on the same export: before and after, side by side.

The targets of issue 14 are marked met or not in the table it prints (from
this checkout's rows).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from benchmarks.procs import ROOT, SimulatorProcess, measure
from benchmarks.sinks import RECORD_BYTES, postgres_server

DLT_PYTHON = ROOT / ".venv-dlt" / "bin" / "python"
RSS_TARGET_MB = 150

READ_JSON = """
import duckdb, json, sys, time
db, files = sys.argv[1], json.loads(sys.argv[2])
conn = duckdb.connect(db)
conn.execute("SET memory_limit = '256MB'")
conn.execute("SET enable_progress_bar = false")
conn.execute("CREATE TABLE order_item AS SELECT * FROM read_json(?)", [files])
print(conn.execute("SELECT count(*) FROM order_item").fetchall()[0][0])
"""

BARE_COPY = """
import asyncio, asyncpg, json, sys, time
import pyarrow.dataset as ds
from streamer.tables.batch import ARROW_TYPES
from streamer.tables.dialects import POSTGRESQL
dsn, folder = sys.argv[1], sys.argv[2]
table = ds.dataset(folder, format="parquet").to_table()
arrow_to_kind = {str(t): k for k, t in ARROW_TYPES.items() if k not in ("uuid", "json")}
columns = [(f.name, POSTGRESQL.types[arrow_to_kind.get(str(f.type), "text")]) for f in table.schema]
rows = list(zip(*(table.column(i).to_pylist() for i in range(table.num_columns))))
async def main():
    conn = await asyncpg.connect(dsn)
    await conn.execute("CREATE TABLE bare_copy (" + ", ".join(f"{n} {t}" for n, t in columns) + ")")
    started = time.perf_counter()
    await conn.copy_records_to_table("bare_copy", records=rows, columns=[n for n, _ in columns])
    print(json.dumps({"records": len(rows), "seconds": time.perf_counter() - started}))
    await conn.close()
asyncio.run(main())
"""

DLT = """
import json, sys
import dlt, requests
urls, mode, db = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
def pages():
    for url in urls:
        with requests.get(url, stream=True) as resp:
            resp.raise_for_status()
            page = []
            for line in resp.iter_lines():
                if line:
                    page.append(json.loads(line))
                    if len(page) == 1000:
                        yield page
                        page = []
            if page:
                yield page
if mode == "append":
    resource = dlt.resource(pages, name="order_item", write_disposition="append", max_table_nesting=0)
else:
    resource = dlt.resource(pages, name="order_item", write_disposition="merge", primary_key="Id")
pipeline = dlt.pipeline(pipeline_name="bench_" + mode, destination=dlt.destinations.duckdb(db),
                        dataset_name="bench", pipelines_dir=sys.argv[4])
pipeline.run(resource)
with pipeline.sql_client() as client:
    print(client.execute_sql("SELECT count(*) FROM order_item")[0][0])
"""


def _cli(urls: list[str], sink: str, code: Path | None = None) -> list[str]:
    """The CLI command; with ``code``, the CLI of the streamer checkout at that directory instead."""
    args = ["-q", "urls", *urls, "--entity", "OrderItem", "--sink", sink]
    if code is None:
        return [sys.executable, "-m", "streamer.cli.main", *args]
    boot = (f"import sys; sys.path.insert(0, {str(code)!r}); from streamer.cli.main import main; "
            "sys.argv[0] = 'streamer'; main()")
    return [sys.executable, "-c", boot, *args]


def _row(name: str, kind: str, wall: float, rss: float, records: int) -> dict[str, Any]:
    return {"contender": name, "kind": kind, "seconds": round(wall, 2), "records_per_second": round(records / wall),
            "peak_rss_mb": round(rss)}


def run(
    size_mb: float, parts: int, with_dlt: bool, before: Path | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    records = max(1, round(size_mb * 1e6 / RECORD_BYTES))
    work = Path(tempfile.mkdtemp(prefix="streamer-typed-bench-"))
    rows: list[dict[str, Any]] = []
    try:
        with SimulatorProcess(records=records, parts=parts, gzip=False) as export, postgres_server(None) as dsn:
            n = export.records
            sinks = {
                "streamer → DuckDB (typed)": f"duckdb:///{work}/streamer.duckdb",
                "streamer → SQLite (typed)": f"sqlite:///{work}/streamer.db",
                "streamer → Parquet": f"parquet:///{work}/parquet",
            }
            if dsn:
                sinks["streamer → PostgreSQL (typed)"] = f"{dsn}?schema=bench_{uuid.uuid4().hex[:8]}"
            for name, url in sinks.items():
                m = measure(_cli(export.urls, url))
                rows.append(_row(name, "streamer", m.wall, m.peak_rss_mb, n))
                print(rows[-1], file=sys.stderr)
                if before is not None:
                    again = url.replace(str(work), str(work / "before")).replace("?schema=bench_", "?schema=before_")
                    (work / "before").mkdir(exist_ok=True)
                    m = measure(_cli(export.urls, again, before))
                    rows.append(_row(f"{name}, before", "before", m.wall, m.peak_rss_mb, n))
                    print(rows[-1], file=sys.stderr)

            files = []
            for i, url in enumerate(export.urls):  # the limits read the same bytes from disk
                path = work / f"part-{i}.jsonl"
                with urllib.request.urlopen(url) as resp, open(path, "wb") as f:
                    shutil.copyfileobj(resp, f)
                files.append(str(path))
            m = measure([sys.executable, "-c", READ_JSON, str(work / "read_json.duckdb"), json.dumps(files)])
            assert int(m.stdout.strip().splitlines()[-1]) == n
            rows.append(_row("DuckDB read_json (files on disk)", "limit", m.wall, m.peak_rss_mb, n))
            if dsn:
                m = measure([sys.executable, "-c", BARE_COPY, dsn, str(work / "parquet" / "order_item")])
                copied = json.loads(m.stdout.strip().splitlines()[-1])
                assert copied["records"] == n
                rows.append(_row("asyncpg binary COPY of the typed rows (COPY only)", "limit", copied["seconds"], m.peak_rss_mb, n))
                rows.append(_row("  the same, whole process (rows read from Parquet first)", "limit", m.wall, m.peak_rss_mb, n))
            if with_dlt:
                for mode, label in (("append", "dlt 1.31 → DuckDB, max_table_nesting=0, append"),
                                    ("merge", "dlt 1.31 → DuckDB, default nesting, merge on Id")):
                    m = measure([str(DLT_PYTHON), "-c", DLT, json.dumps(export.urls), mode,
                                 str(work / f"dlt_{mode}.duckdb"), str(work / "dlt_pipelines")], timeout=1800)
                    assert int(m.stdout.strip().splitlines()[-1]) == n
                    rows.append(_row(label, "dlt", m.wall, m.peak_rss_mb, n))
                    print(rows[-1], file=sys.stderr)
            info = {"records": n, "mb": round(export.wire_bytes / 1e6, 1), "parts": parts}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows, info


def targets(rows: list[dict[str, Any]]) -> list[tuple[str, str, bool]]:
    by = {r["contender"]: r for r in rows}
    out: list[tuple[str, str, bool]] = []
    duck = by.get("streamer → DuckDB (typed)")
    dlts = [r for r in rows if r["kind"] == "dlt"]
    if duck and dlts:
        best = min(r["seconds"] for r in dlts)
        ratio = best / duck["seconds"]
        out.append(("typed DuckDB ≥ 20× dlt's faster configuration", f"{ratio:.1f}×", ratio >= 20))
    read_json = by.get("DuckDB read_json (files on disk)")
    if duck and read_json:
        ratio = read_json["seconds"] / duck["seconds"]
        out.append(("typed DuckDB ≥ 0.5× DuckDB read_json", f"{ratio:.2f}×", ratio >= 0.5))
    pg, copy = by.get("streamer → PostgreSQL (typed)"), by.get("asyncpg binary COPY of the typed rows (COPY only)")
    if pg and copy:
        ratio = copy["seconds"] / pg["seconds"]
        out.append(("typed PostgreSQL ≥ 0.8× the bare COPY", f"{ratio:.2f}×", ratio >= 0.8))
    for r in rows:
        if r["kind"] == "streamer":
            out.append((f"{r['contender']} < {RSS_TARGET_MB} MB RSS", f"{r['peak_rss_mb']} MB", r["peak_rss_mb"] < RSS_TARGET_MB))
    return out


def markdown(rows: list[dict[str, Any]], info: dict[str, Any]) -> str:
    lines = [f"{info['records']:,} Mews-shaped OrderItems, {info['mb']} MB in {info['parts']} parts, one run.", "",
             "| contender | seconds | records/s | peak RSS MB |", "|---|---:|---:|---:|"]
    lines += [f"| {r['contender']} | {r['seconds']} | {r['records_per_second']:,} | {r['peak_rss_mb']} |" for r in rows]
    lines += ["", "| target | measured | met |", "|---|---:|:---:|"]
    lines += [f"| {t} | {v} | {'yes' if ok else '**no**'} |" for t, v, ok in targets(rows)]
    lines += before_after(rows)
    return "\n".join(lines) + "\n"


def before_after(rows: list[dict[str, Any]]) -> list[str]:
    """Each streamer contender against the same from ``--before``'s code, in this run."""
    by = {r["contender"]: r for r in rows}
    pairs = [(r, by[f"{r['contender']}, before"]) for r in rows if f"{r['contender']}, before" in by]
    if not pairs:
        return []
    lines = ["", "| sink | seconds before → after | speed-up | peak RSS MB before → after |", "|---|---:|---:|---:|"]
    for after, before in pairs:
        lines.append(f"| {after['contender']} | {before['seconds']} → {after['seconds']} | "
                     f"{before['seconds'] / after['seconds']:.2f}× | {before['peak_rss_mb']} → {after['peak_rss_mb']} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=float, default=200.0, help="size of the export (the issue's run: ≥ 200)")
    parser.add_argument("--parts", type=int, default=4)
    parser.add_argument("--no-dlt", action="store_true", help="skip dlt even if .venv-dlt has it")
    parser.add_argument("--out", type=Path, help="also write the markdown table here")
    parser.add_argument("--before", type=Path, help="also run the streamer contenders from the checkout at this directory")
    args = parser.parse_args(argv)
    with_dlt = not args.no_dlt and DLT_PYTHON.exists()
    if not with_dlt:
        print("dlt: skipped (no .venv-dlt/bin/python, or --no-dlt)", file=sys.stderr)
    if args.before is not None and not (args.before / "streamer" / "cli" / "main.py").exists():
        parser.error(f"--before {args.before}: not a streamer checkout (no streamer/cli/main.py)")
    rows, info = run(args.size_mb, args.parts, with_dlt, args.before)
    text = markdown(rows, info)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
