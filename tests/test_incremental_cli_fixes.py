"""``--incremental`` through the real CLI: a naive ``--since`` is UTC, and hand-typed UpdatedUtc bounds conflict."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

from streamer.cli.demo import BackgroundSimulator
from streamer.simulator import Simulator
from streamer.simulator.mews import DEMO_ACCESS_TOKEN, DEMO_CLIENT_TOKEN, MewsSimConfig, install
from tests.test_rebilly_cli import ORG, simulator_thread


def _mews(base_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MEWS_PLATFORM_URL": base_url, "MEWS_CLIENT_TOKEN": DEMO_CLIENT_TOKEN,
           "MEWS_ACCESS_TOKEN": DEMO_ACCESS_TOKEN}
    return subprocess.run([sys.executable, "-m", "streamer.cli.main", "mews", "--entity", "OrderItem",
                           "--poll-interval", "0.05", "--max-poll-interval", "0.2", *args],
                          env=env, capture_output=True, timeout=120)


def _since() -> str:
    return (datetime.now(timezone.utc) - timedelta(days=10)).strftime("%Y-%m-%d")


def test_mews_naive_since_is_read_as_utc(tmp_path: Path) -> None:
    sim = Simulator(seed=3)
    api = install(sim, MewsSimConfig(records=50, parts=1, pending_seconds=0.0, processing_seconds=0.0, seed=3))
    records = api.track_changes("OrderItem", records=200, history=timedelta(days=30))
    since = _since()
    with BackgroundSimulator(sim):
        result = _mews(sim.base_url, "--incremental", "--since", since, "--state", str(tmp_path / "s.json"),
                       "-o", str(tmp_path / "out.jsonl"))
    assert result.returncode == 0, result.stderr.decode()
    (body,) = [e.vendor["request"] for e in api.exports.values()]
    assert body["Filters"]["UpdatedUtc"]["StartUtc"] == f"{since}T00:00:00Z"
    delivered = [orjson.loads(line) for line in (tmp_path / "out.jsonl").read_bytes().splitlines()]
    expected = [r for r in records.current.values() if r["UpdatedUtc"] >= f"{since}T00:00:00Z"]
    assert 0 < len(delivered) == len(expected) < 200


def test_rebilly_naive_since_is_read_as_utc(tmp_path: Path) -> None:
    since = _since()
    with simulator_thread() as (sim, state):
        records = state.track_changes("transactions", records=150, history=timedelta(days=30))
        env = {**os.environ, "REBILLY_API_KEY": state.api_key, "REBILLY_ORGANIZATION_ID": ORG}
        out = tmp_path / "out.jsonl"
        result = subprocess.run(
            [sys.executable, "-m", "streamer.cli.main", "rebilly", "--base-url", sim.base_url,
             "--poll-interval", "0.05", "--max-poll-interval", "0.1", "--resource", "transactions",
             "--export-format", "json", "--incremental", "--since", since,
             "--state", str(tmp_path / "s.json"), "-o", str(out)],
            env=env, capture_output=True, timeout=120)
        assert result.returncode == 0, result.stderr.decode()
        (body,) = [r["body"] for r in state.requests if r["method"] == "POST"]
    assert body["dateRange"]["field"] == "updatedTime"
    assert body["dateRange"]["start"].startswith(f"{since}T00:00:00")
    delivered = out.read_bytes().splitlines()
    expected = [r for r in records.current.values() if r["updatedTime"] >= f"{since}T00:00:00Z"]
    assert 0 < len(delivered) == len(expected) < 150


def test_mews_incremental_with_only_updated_from_is_the_one_line_conflict() -> None:
    for option in ("--updated-from", "--updated-to"):
        result = _mews("http://127.0.0.1:9", "--incremental", option, "2025-01-01")
        stderr = result.stderr.decode()
        assert result.returncode == 2, stderr
        assert "sets UpdatedUtc itself" in stderr and "spans" not in stderr and "Traceback" not in stderr
