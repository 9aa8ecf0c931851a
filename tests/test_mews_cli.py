"""``streamer mews`` end to end: a real process against a simulator on a background thread."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter, deque

import orjson
from click.testing import CliRunner

from streamer.cli.demo import BackgroundSimulator
from streamer.cli.main import cli
from streamer.simulator import FaultPlan, Simulator
from streamer.simulator.mews import DEMO_ACCESS_TOKEN, DEMO_CLIENT_TOKEN, MewsSimConfig, install

ENTITIES = ("OrderItem", "Payment", "Customer")


def run_cli(args: list[str], base_url: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "MEWS_PLATFORM_URL": base_url,
        "MEWS_CLIENT_TOKEN": DEMO_CLIENT_TOKEN,
        "MEWS_ACCESS_TOKEN": DEMO_ACCESS_TOKEN,
    }
    return subprocess.run(
        [sys.executable, "-m", "streamer.cli.main", *args],
        env=env,
        capture_output=True,
        timeout=timeout,
    )


def fast_args(*extra: str, quiet: bool = False) -> list[str]:
    args = ["-q", "mews"] if quiet else ["mews"]
    for entity in ENTITIES:
        args += ["--entity", entity]
    return args + ["--poll-interval", "0.05", "--max-poll-interval", "0.2", "--retries", "12", *extra]


def test_cli_streams_multi_entity_multi_part_exports_exactly_once_while_urls_expire_and_429s_fire() -> None:
    # Three cuts (each offset fires once, on the first file reaching it), 429s on
    # file requests and on the API (the first call deterministically, then at
    # random, with Retry-After: 1), and file URLs that expire after one second.
    faults = FaultPlan(seed=11, bytes_per_second=1_500_000, throttle_rate=0.05, retry_after=0)
    faults.drop_at["*"] = [120_000, 260_000, 400_000]
    sim = Simulator(seed=11, faults=faults, url_ttl=1.0)
    api = install(
        sim,
        MewsSimConfig(records=1500, parts=3, pending_seconds=0.1, processing_seconds=0.2,
                      throttle_rate=0.1, retry_after=1, statuses=deque([429]), seed=11),
    )
    with BackgroundSimulator(sim):
        result = run_cli(fast_args("--url-ttl", "1", "--concurrency", "3"), sim.base_url)
    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr
    lines = result.stdout.splitlines()
    ids = Counter(orjson.loads(line)["Id"] for line in lines)
    expected = [i for e in api.exports.values() for i in e.ids()]
    assert len(api.exports) == 3 and all(len(e.files) == 3 for e in api.exports.values())
    assert set(ids.values()) == {1} and sorted(ids) == sorted(expected)
    assert len(lines) == 4500
    # The faults really happened: 429s on the API, expired URLs re-signed, cuts resumed.
    assert any(status == 429 for _, status in api.rejected)
    assert "URL refreshes" in stderr and faults.injected.get("drop", 0) == 3
    for entity, export in ((e.entity_type, e.id) for e in api.exports.values()):
        assert f"--export-id {entity}={export}" in stderr
    assert DEMO_ACCESS_TOKEN not in stderr and DEMO_CLIENT_TOKEN not in stderr


def test_cli_singer_output_has_schema_records_and_state() -> None:
    sim = Simulator(seed=3, url_ttl=600)
    api = install(sim, MewsSimConfig(records=120, parts=2, pending_seconds=0.05, processing_seconds=0.05))
    with BackgroundSimulator(sim):
        result = run_cli(fast_args("--format", "singer", quiet=True), sim.base_url)
    assert result.returncode == 0, result.stderr.decode()
    messages = [orjson.loads(line) for line in result.stdout.splitlines()]
    schemas = {m["stream"]: m for m in messages if m["type"] == "SCHEMA"}
    records = [m for m in messages if m["type"] == "RECORD"]
    assert set(schemas) == set(ENTITIES)
    assert "UnitAmount" in schemas["OrderItem"]["schema"]["properties"]  # from the typed Struct
    assert "FirstName" in schemas["Customer"]["schema"]["properties"]
    assert schemas["Payment"]["key_properties"] == ["Id"]
    for stream in ENTITIES:  # SCHEMA precedes the stream's first RECORD
        first_record = next(i for i, m in enumerate(messages) if m["type"] == "RECORD" and m["stream"] == stream)
        assert messages.index(schemas[stream]) < first_record
    assert Counter(m["stream"] for m in records) == {e: 120 for e in ENTITIES}
    assert messages[-1]["type"] == "STATE" and len(messages[-1]["value"]["parts"]) == 6
    assert result.stderr == b""


def test_cli_reports_config_errors_before_any_request() -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["mews", "--entity", "LedgerEntry", "--platform-url", "http://127.0.0.1:9",
                                 "--client-token", "abcdefgh", "--access-token", "ijklmnop"])
    assert result.exit_code == 2 and "--posting-from/--posting-to" in result.output
    result = runner.invoke(cli, ["mews", "--entity", "OrderItem"], env={"MEWS_PLATFORM_URL": "", "MEWS_ACCESS_TOKEN": "",
                                                                       "MEWS_CLIENT_TOKEN": ""})
    assert result.exit_code == 2 and "MEWS_ACCESS_TOKEN" in result.output
    result = runner.invoke(cli, ["mews", "--entity", "OrderItem", "--export-id", "OrderItem"], env={})
    assert result.exit_code == 2 and "expected ENTITY=ID" in result.output


def test_cli_fails_with_mews_message_and_request_id_but_no_token() -> None:
    sim = Simulator(seed=1)
    install(sim, MewsSimConfig(access_token="a-different-access-token"))
    with BackgroundSimulator(sim):
        result = run_cli(["mews", "--entity", "OrderItem"], sim.base_url)
    stderr = result.stderr.decode()
    assert result.returncode == 1
    assert "Invalid ClientToken or AccessToken" in stderr and "HTTP 401" in stderr
    assert re.search(r"request id [0-9a-f-]{36}", stderr)
    assert DEMO_ACCESS_TOKEN not in stderr


def test_demo_prints_the_number_of_records_it_streams() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "streamer.cli.main", "demo", "--records", "4000", "--parts", "2"],
        capture_output=True,
        timeout=60,
    )
    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr
    generated = int(re.search(r"generated (\d+) records", stderr).group(1))
    lines = result.stdout.splitlines()
    assert generated == 16_000 == len(lines)
    assert len({orjson.loads(line)["Id"] for line in lines}) == generated
