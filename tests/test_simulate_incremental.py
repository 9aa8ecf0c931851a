"""``streamer simulate`` honours the change filters: a second ``--incremental`` run re-delivers nothing.

Both the simulator and the client run as real processes, as a newcomer runs them.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest

from streamer.simulator.mews import DEMO_ACCESS_TOKEN, DEMO_CLIENT_TOKEN
from streamer.simulator.rebilly import RebillySim

pytestmark = pytest.mark.timeout(120)

CLI = [sys.executable, "-m", "streamer.cli.main"]


@contextmanager
def simulate() -> Iterator[str]:
    process = subprocess.Popen([*CLI, "simulate", "--port", "0", "--records", "10"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert process.stdout is not None
        yield process.stdout.readline().decode().strip()
    finally:
        process.terminate()
        process.wait(10)


def _mews(base: str, tmp_path: Path, out: str, *extra: str) -> list[dict]:
    env = {**os.environ, "MEWS_CLIENT_TOKEN": DEMO_CLIENT_TOKEN, "MEWS_ACCESS_TOKEN": DEMO_ACCESS_TOKEN}
    result = subprocess.run(
        [*CLI, "mews", "--platform-url", base, "--entity", "Customer", "--poll-interval", "0.05",
         "--max-poll-interval", "0.2", "--incremental", "--state", str(tmp_path / "state.json"),
         "-o", str(tmp_path / out), *extra],
        env=env, capture_output=True, timeout=90)
    assert result.returncode == 0, result.stderr.decode()
    return [orjson.loads(line) for line in (tmp_path / out).read_bytes().splitlines()]


def test_a_second_incremental_run_against_streamer_simulate_delivers_nothing_new(tmp_path: Path) -> None:
    with simulate() as base:
        first = _mews(base, tmp_path, "first.jsonl")
        second = _mews(base, tmp_path, "second.jsonl")
    assert len(first) > 100 and len({r["Id"] for r in first}) == len(first)
    assert second == []  # nothing changed in between


def test_since_selects_by_updated_utc_in_streamer_simulate(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    with simulate() as base:
        full = _mews(base, tmp_path / "full", "full.jsonl")
        since = sorted(r["UpdatedUtc"] for r in full)[len(full) // 2][:10]
        recent = _mews(base, tmp_path, "recent.jsonl", "--since", since)
    # each simulated export has its own Ids and seed: compare change times, not Ids
    assert recent and all(r["UpdatedUtc"] >= f"{since}T00:00:00Z" for r in recent)
    assert len(recent) < 0.8 * len(full)


def test_rebilly_records_carry_updated_time_and_a_second_incremental_run_delivers_nothing(tmp_path: Path) -> None:
    def rebilly(out: str, *extra: str) -> list[dict]:
        env = {**os.environ, "REBILLY_API_KEY": api_key}
        result = subprocess.run(
            [*CLI, "rebilly", "--base-url", base, "--organization-id", "org-demo", "--resource", "transactions",
             "--export-format", "json", "--poll-interval", "0.05", "--max-poll-interval", "0.1", "--incremental",
             "--state", str(tmp_path / "rebilly-state.json"), "-o", str(tmp_path / out), *extra],
            env=env, capture_output=True, timeout=90)
        assert result.returncode == 0, result.stderr.decode()
        return [orjson.loads(line) for line in (tmp_path / out).read_bytes().splitlines()]

    api_key = inspect.signature(RebillySim).parameters["api_key"].default  # what `streamer simulate` accepts
    with simulate() as base:
        first = rebilly("first.jsonl")
        second = rebilly("second.jsonl")
    assert len(first) > 100 and all(r["updatedTime"] >= r["createdTime"] for r in first)
    assert second == []
