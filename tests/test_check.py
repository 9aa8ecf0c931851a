"""``streamer check VENDOR …``: credentials verified, what would be exported listed, nothing downloaded or created."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result

from streamer.cli.demo import BackgroundSimulator
from streamer.cli.main import cli
from streamer.simulator.logisense import LOGISENSE, RESOURCE_PREFIX
from streamer.simulator.mews import DEMO_ACCESS_TOKEN, DEMO_CLIENT_TOKEN
from streamer.simulator.server import Simulator
from streamer.simulator.vendors import install


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    simulator = Simulator(seed=3)
    install(simulator)
    simulator.add_export("OrderItem", records=300, parts=3, gzip=True)
    with BackgroundSimulator(simulator) as running:
        yield running


def check(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["check", *args], env=env or {})


def file_requests(sim: Simulator) -> list[tuple[str, str, dict[str, str]]]:
    return [r for r in sim.requests if r[1].startswith(("/files/", "/logisense-s3/", "/rebilly-files/"))]


def test_urls_lists_sizes_and_formats_reading_one_byte_each(sim: Simulator) -> None:
    export = next(iter(sim.exports.values()))
    urls = sim.file_urls(export)
    result = check("urls", *urls)
    assert result.exit_code == 0, result.output
    sizes = [export.file_size(i) for i in range(3)]
    for i, size in enumerate(sizes):
        assert f"part {i} (part-000{i}.jsonl.gz): jsonl, compression auto, {size:,} bytes (HTTP 206)" in result.stdout
    assert f"total: {sum(sizes):,} bytes" in result.stdout
    ranged = [r for r in file_requests(sim) if r[2].get("Range") == "bytes=0-0"]
    assert len(ranged) >= 3


def test_urls_reports_a_bad_url_in_one_line_and_exits_1(sim: Simulator) -> None:
    result = check("urls", f"{sim.base_url}/files/nope/x.csv")
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert "check failed: part 0 (x.csv): HTTP 403" in result.stderr


MEWS_ENV = {"MEWS_CLIENT_TOKEN": DEMO_CLIENT_TOKEN, "MEWS_ACCESS_TOKEN": DEMO_ACCESS_TOKEN}


def test_mews_verifies_tokens_and_creates_nothing(sim: Simulator) -> None:
    before = len(sim.mews.exports)  # type: ignore[attr-defined]
    result = check("mews", "--platform-url", sim.base_url, "--entity", "OrderItem", "--entity", "Payment", env=MEWS_ENV)
    assert result.exit_code == 0, result.output
    assert "credentials: accepted" in result.stdout
    assert 'OrderItem: a run would call exports/add with {"EntityType":"OrderItem"' in result.stdout
    assert "Payment: a run would call exports/add" in result.stdout
    assert len(sim.mews.exports) == before  # type: ignore[attr-defined]
    bad = check("mews", "--platform-url", sim.base_url, "--entity", "OrderItem",
                env={**MEWS_ENV, "MEWS_ACCESS_TOKEN": "wrong"})
    assert bad.exit_code == 1 and "HTTP 401" in bad.stderr and "Traceback" not in bad.output


def test_mews_lists_the_files_of_a_known_export(sim: Simulator) -> None:
    run = CliRunner().invoke(cli, ["-q", "mews", "--platform-url", sim.base_url, "--entity", "Customer",
                                   "--poll-interval", "0.05"], env=MEWS_ENV)
    assert run.exit_code == 0, run.output
    export_id = next(e for e, x in sim.mews.exports.items() if x.entity_type == "Customer")  # type: ignore[attr-defined]
    served = len(file_requests(sim))
    result = check("mews", "--platform-url", sim.base_url, "--entity", "Customer",
                   "--export-id", f"Customer={export_id}", env=MEWS_ENV)
    assert result.exit_code == 0, result.output
    assert f"Customer: export {export_id} is Success, 3 files, " in result.stdout
    assert len(file_requests(sim)) == served


def test_logisense_logs_in_and_lists_rows_without_triggering(sim: Simulator) -> None:
    api = sim.app[LOGISENSE]
    rows_before = set(api.history)
    env = {"LOGISENSE_PASSWORD": api.password}
    base = ["logisense", "--base-url", f"{sim.base_url}{RESOURCE_PREFIX}/", "--username", api.username,
            "--client-id", api.client_id]
    result = check(*base, "--history-id", "101", "--latest-of", "8", "--trigger", "9", env=env)
    assert result.exit_code == 0, result.output
    assert "history 101: DataExportHistory 101 is Complete, 5000 rows" in result.stdout
    assert "latest of DataExport 8: DataExportHistory 102 is Complete" in result.stdout
    assert 'DataExport 9: a run would trigger it with {"dataExportId":9}' in result.stdout
    assert set(api.history) == rows_before and not api.trigger_bodies
    bad = check(*base, "--trigger", "9", env={"LOGISENSE_PASSWORD": "wrong"})
    assert bad.exit_code == 1 and "login" in bad.stderr and "Traceback" not in bad.output


def test_rebilly_verifies_the_key_and_requests_nothing(sim: Simulator) -> None:
    key = sim.rebilly.api_key  # type: ignore[attr-defined]
    base = ["rebilly", "--base-url", sim.base_url, "--organization-id", "org-1"]
    result = check(*base, "--resource", "customers", "--export-format", "json", env={"REBILLY_API_KEY": key})
    assert result.exit_code == 0, result.output
    assert "credentials: accepted for organization org-1" in result.stdout
    assert '"format":"json","resource":"customers"' in result.stdout
    assert not sim.rebilly.exports  # type: ignore[attr-defined]
    bad = check(*base, env={"REBILLY_API_KEY": "nope"})
    assert bad.exit_code == 1 and "HTTP 401" in bad.stderr


def test_check_help_lists_each_vendor() -> None:
    result = CliRunner().invoke(cli, ["check", "--help"])
    assert result.exit_code == 0
    for name in ("urls", "mews", "logisense", "rebilly"):
        assert f"  {name} " in result.output
