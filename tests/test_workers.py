"""Embedding in workers: run_sync from threads and processes, graceful SIGTERM,
the metrics callback, JSON logs, and the worker-pool example."""

from __future__ import annotations

import json
import logging
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import anyio
import orjson
import pytest

import streamer
from streamer.metrics import Progress, log_progress
from streamer.simulator import FaultPlan, Simulator
from streamer.sinks.sqlite import SqliteSink
from streamer.workers import PartitionedSource
from tests.support.sinks import dir_records, duplicates, sqlite_rows

ROOT = Path(__file__).resolve().parents[1]


async def test_run_sync_from_plain_threads(sim: Simulator, tmp_path: Path) -> None:
    """Two non-async threads, each with its own event loop, each streaming half of the parts."""
    export = sim.add_export("OrderItem", records=3000, parts=4)
    urls = sim.file_urls(export)
    results: dict[int, streamer.RunStats] = {}
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            source = PartitionedSource(streamer.UrlSource(urls, entity_type="OrderItem"), index, 2)
            results[index] = streamer.run_sync(source, SqliteSink(tmp_path / f"w{index}.db", layout="json"), batch_size=250)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        await anyio.to_thread.run_sync(t.join)
    assert errors == []
    assert {i: len(s.parts) for i, s in results.items()} == {0: 2, 1: 2}
    ids = [r[0] for i in range(2) for r in sqlite_rows(tmp_path / f"w{i}.db")["order_item"]]
    assert duplicates(ids) == [] and sorted(ids) == sorted(export.ids())


async def test_stop_on_needs_the_main_thread(sim: Simulator, tmp_path: Path) -> None:
    export = sim.add_export("OrderItem", records=10, parts=1)

    def worker() -> None:
        streamer.run_sync(streamer.UrlSource(sim.file_urls(export)), SqliteSink(tmp_path / "x.db", layout="json"),
                          stop_on=(signal.SIGTERM,))

    with pytest.raises(RuntimeError, match="main thread"):
        await anyio.to_thread.run_sync(worker)


async def test_sigterm_finishes_the_current_batch_saves_and_exits_0(tmp_path: Path) -> None:
    faults = FaultPlan(seed=2, bytes_per_second=400_000)
    async with Simulator(seed=5, faults=faults) as sim:
        export = sim.add_export("OrderItem", records=4000, parts=2)
        db, markers = tmp_path / "out.db", tmp_path / "markers"
        markers.mkdir()
        cmd = [sys.executable, "-m", "tests.support.graceful_worker", str(db), str(markers), "0.3", *sim.file_urls(export)]
        process = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 30
            while not (markers / "write-3").exists():  # the third batch is being written (0.3 s)
                assert process.poll() is None, process.communicate()[1].decode()
                assert time.monotonic() < deadline
                await anyio.sleep(0.01)
            process.send_signal(signal.SIGTERM)
            stdout, stderr = await anyio.to_thread.run_sync(lambda: process.communicate(timeout=30))
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == 0, stderr.decode()
        report = json.loads(stdout)
        assert report["stopped_by"] == "SIGTERM"
        # the batch in flight was finished, and no new one was started
        assert report["writes_started"] == report["writes_completed"] == 3
        rows = sqlite_rows(db)["order_item"]
        assert len(rows) == report["records"] > 0
        conn = sqlite3.connect(db)
        committed_lines = conn.execute("SELECT sum(line) FROM _streamer_checkpoints").fetchone()[0]
        conn.close()
        assert committed_lines == len(rows)
        assert b"SIGTERM received" in stderr

        # the next run resumes from the committed checkpoints and completes the export
        faults.bytes_per_second = None
        cmd[5] = "0"
        result = await anyio.run_process(cmd, cwd=ROOT, check=False)
        assert result.returncode == 0, result.stderr.decode()
        assert json.loads(result.stdout)["stopped_by"] is None
        ids = [r[0] for r in sqlite_rows(db)["order_item"]]
        assert duplicates(ids) == [] and sorted(ids) == sorted(export.ids())


async def test_metrics_callback_reports_progress_periodically(tmp_path: Path) -> None:
    faults = FaultPlan(seed=3, bytes_per_second=1_500_000)
    async with Simulator(seed=6, faults=faults) as sim:
        export = sim.add_export("Payment", records=3000, parts=2)
        snapshots: list[Progress] = []
        sizes = [export.file_size(i) for i in range(2)]
        stats = await streamer.run(
            streamer.UrlSource(sim.file_urls(export), sizes=sizes),
            SqliteSink(tmp_path / "m.db", layout="json"),
            on_progress=lambda s: snapshots.append(Progress.of(s)),
            progress_interval=0.1,
        )
    assert len(snapshots) >= 5
    records = [s.records for s in snapshots]
    assert records == sorted(records) and records[-1] == stats.records == 3000
    assert snapshots[-1].expected_bytes == sum(sizes) == snapshots[-1].bytes
    assert snapshots[-1].lag_bytes == 0 and snapshots[-1].eta_seconds == 0
    middle = [s for s in snapshots if 0 < s.bytes < sum(sizes)]
    assert middle and all(s.eta_seconds is not None and s.lag_bytes for s in middle)
    assert middle[0].eta_seconds > 0  # type: ignore[operator]
    assert all(s.bytes_per_second > 0 for s in middle)


async def test_a_failing_metrics_hook_does_not_fail_the_export(sim: Simulator, caplog: pytest.LogCaptureFixture) -> None:
    export = sim.add_export("OrderItem", records=500, parts=1)
    got: list[int] = []

    async def sink(batch: streamer.Batch) -> None:
        got.extend(1 for _ in batch.records)

    def broken(stats: streamer.RunStats) -> None:
        raise ValueError("metrics backend down")

    stats = await streamer.run(streamer.UrlSource(sim.file_urls(export)), streamer.CallbackSink(sink), on_progress=broken)
    assert stats.records == len(got) == 500
    assert "on_progress hook failed" in caplog.text


async def test_log_progress_hook_emits_structured_records(sim: Simulator, caplog: pytest.LogCaptureFixture) -> None:
    export = sim.add_export("OrderItem", records=300, parts=1)
    caplog.set_level(logging.INFO, logger="streamer.progress")
    await streamer.run(streamer.UrlSource(sim.file_urls(export)), streamer.CallbackSink(lambda b: None),
                       on_progress=log_progress())
    record = [r for r in caplog.records if r.name == "streamer.progress"][-1]
    assert record.progress["records"] == 300  # type: ignore[attr-defined]
    assert "300 records" in record.getMessage()


async def test_cli_json_logs_on_stderr(sim: Simulator, tmp_path: Path) -> None:
    export = sim.add_export("OrderItem", records=200, parts=1)
    cmd = [sys.executable, "-m", "streamer.cli.main", "--log-format", "json", "-v", "urls", *sim.file_urls(export),
           "--sink", f"sqlite:///{tmp_path}/out.db?layout=json"]
    for _ in range(2):  # the rerun logs (INFO, streamer.engine) that the part was delivered already
        result = await anyio.run_process(cmd, check=False)
        assert result.returncode == 0, result.stderr.decode()
    logs = [orjson.loads(line) for line in result.stderr.splitlines() if line.startswith(b"{")]
    assert logs, result.stderr.decode()
    assert all({"ts", "level", "logger", "message"} <= set(entry) for entry in logs)
    engine = [entry for entry in logs if entry["logger"] == "streamer.engine"]
    assert engine and engine[0]["level"] == "info" and "already delivered" in engine[0]["message"]
    assert all("sig=" not in entry["message"] for entry in logs)  # signed URLs never appear


def test_dask_cluster_example(tmp_path: Path) -> None:
    """examples/dask_cluster.py (which replaced worker_pool.py): 2 worker processes, one summary per part."""
    pytest.importorskip("distributed")
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "dask_cluster.py"), "--workers", "2", "--records", "6000",
         "--parts", "5", "--out", str(tmp_path)],
        capture_output=True, timeout=120, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr.decode()
    *parts, total = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(p["part"].rsplit("/", 1)[1] for p in parts) == ["0", "1", "2", "3", "4"]
    assert sum(p["records"] for p in parts) == total["records"] == 6000 and total["parts"] == 5
    assert all(p["worker"].startswith("tcp://127.0.0.1:") and p["peak_rss_mb"] > 0 for p in parts)
    ids = [r["Id"] for part in sorted((tmp_path / "parts").iterdir()) for r in dir_records(part)["order_item"]]
    assert len(ids) == 6000 and duplicates(ids) == []
    progress_logs = [orjson.loads(line) for line in result.stderr.splitlines() if b'"progress"' in line]
    assert progress_logs and progress_logs[-1]["progress"]["records"] == 6000


def test_json_formatter_keeps_extra_fields_and_masks_secrets() -> None:
    from streamer.http.redact import register_secret
    from streamer.logs import JsonFormatter

    register_secret("tok-abcdef123456")
    record = logging.makeLogRecord({"name": "streamer.mews", "levelno": logging.WARNING, "levelname": "WARNING",
                                    "msg": "401 for token %s", "args": ("tok-abcdef123456",), "part": "OrderItem part 2"})
    entry = orjson.loads(JsonFormatter().format(record))
    assert entry["logger"] == "streamer.mews" and entry["level"] == "warning"
    assert entry["message"] == "401 for token ***" and entry["part"] == "OrderItem part 2"
