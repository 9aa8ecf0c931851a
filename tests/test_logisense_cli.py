"""``streamer logisense`` end to end against ``streamer simulate`` in a child process."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson

from tests.support.simulator_process import simulator_process

STREAMER = [sys.executable, "-m", "streamer.cli.main"]


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([*STREAMER, *args], capture_output=True, timeout=120, env={**os.environ, **env})


def test_cli_streams_history_and_triggered_exports_with_env_credentials() -> None:
    with simulator_process("--records", "10", "--parts", "1") as (base_url, _):
        env = {
            "LOGISENSE_BASE_URL": base_url,
            "LOGISENSE_USERNAME": "demo",
            "LOGISENSE_PASSWORD": "demo-password",
            "LOGISENSE_CLIENT_ID": "streamer",
        }
        result = run("logisense", "--history-id", "101", "--export-id", "9", "--poll-interval", "0.05", env=env)
        assert result.returncode == 0, result.stderr.decode()
        rows = [orjson.loads(line) for line in result.stdout.splitlines()]
        stderr = result.stderr.decode()
        assert "DataExportHistory 103 (reuse: --history-id 103)" in stderr
        assert "10000 records from 2 parts" in stderr
        ids = [row["rowId"] for row in rows]
        assert len(ids) == len(set(ids)) == 10000
        assert {i.split("-")[0] for i in ids} == {"101", "103"}
        assert any("\n" in row["description"] for row in rows)

        singer = run("logisense", "--latest-of", "8", "--format", "singer", "--client-secret", "demo-secret",
                     env={**env, "LOGISENSE_USERNAME": "", "LOGISENSE_PASSWORD": ""})
        assert singer.returncode == 0, singer.stderr.decode()
        messages = [orjson.loads(line) for line in singer.stdout.splitlines()]
        records = [m for m in messages if m["type"] == "RECORD"]
        assert len(records) == 5000 and records[0]["stream"] == "Usage"

        denied = run("logisense", "--history-id", "101", env={**env, "LOGISENSE_PASSWORD": "wrong-password"})
        assert denied.returncode == 1
        assert b"LogiSense login (password grant) failed" in denied.stderr
        assert b"wrong-password" not in denied.stderr


def test_cli_requires_credentials_and_a_selection() -> None:
    result = run("logisense", "--base-url", "http://127.0.0.1:9", env={"LOGISENSE_CLIENT_ID": ""})
    assert result.returncode == 2
    stderr = result.stderr.decode()
    assert "--client-id" in stderr and "--trigger, --history-id or --latest-of" in stderr  # --export-id was renamed --trigger
