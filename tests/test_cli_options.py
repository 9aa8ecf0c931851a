"""One name per idea across commands; old spellings still work, hidden, with a one-line warning;
formats read from the URL's extension like .gz is."""

from __future__ import annotations

import functools
import gzip
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from streamer.cli.main import cli
from streamer.cli.options import rewrite_renamed
from streamer.providers.urls import format_of

RENAMED = [
    ("mews", "--deadline", "--export-timeout"),
    ("logisense", "--timeout", "--export-timeout"),
    ("logisense", "--export-id", "--trigger"),
    ("rebilly", "--timeout", "--export-timeout"),
    ("urls", "--entity-type", "--entity"),
]


@pytest.mark.parametrize(("command", "old", "new"), RENAMED)
def test_help_shows_only_the_new_name(command: str, old: str, new: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert new in result.output
    assert f"{old} " not in result.output and f"{old}," not in result.output


def test_the_same_idea_has_the_same_name_everywhere() -> None:
    for name in ("mews", "logisense", "rebilly"):
        opts = {opt for param in cli.commands[name].params for opt in getattr(param, "opts", [])}
        assert "--export-timeout" in opts and "--timeout" not in opts and "--deadline" not in opts, name
    for name in ("mews", "urls", "simulate"):
        opts = {opt for param in cli.commands[name].params for opt in getattr(param, "opts", [])}
        assert "--entity" in opts and "--entity-type" not in opts, name


def test_old_spelling_is_rewritten_with_one_warning(capsys: pytest.CaptureFixture[str]) -> None:
    renamed = {"--deadline": "--export-timeout"}
    args = ["--deadline", "5", "--deadline=7", "--", "--deadline"]
    assert rewrite_renamed(args, renamed) == ["--export-timeout", "5", "--export-timeout=7", "--", "--deadline"]
    assert capsys.readouterr().err == "streamer: warning: --deadline is deprecated; use --export-timeout\n"


def test_old_spelling_reaches_the_same_parameter() -> None:
    seen: dict[str, object] = {}
    command = cli.commands["mews"]
    original = command.callback
    assert original is not None

    def capture(**kwargs: object) -> None:
        seen.update(kwargs)

    command.callback = capture
    try:
        runner = CliRunner()
        old = runner.invoke(cli, ["mews", "--entity", "OrderItem", "--deadline", "12"])
        assert old.exit_code == 0, old.output
        assert seen["deadline"] == 12.0
        assert "--deadline is deprecated; use --export-timeout" in old.stderr
        seen.clear()
        new = runner.invoke(cli, ["mews", "--entity", "OrderItem", "--export-timeout", "13"])
        assert seen["deadline"] == 13.0 and "deprecated" not in new.stderr
    finally:
        command.callback = original


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://h/x/export.csv", "csv"),
        ("https://h/x/export.CSV.gz?sig=abc", "csv"),
        ("https://h/x/export.json", "json"),
        ("https://h/x/export.json.gz", "json"),
        ("https://h/x/export.jsonl", "jsonl"),
        ("https://h/x/export.ndjson.gz", "jsonl"),
        ("https://h/x/export?format=csv", "jsonl"),
        ("https://h/x/data.bin", "jsonl"),
    ],
)
def test_format_of_url(url: str, expected: str) -> None:
    assert format_of(url) == expected


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[str]:
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_csv_json_and_jsonl_urls_need_no_input_format(tmp_path: Path, file_server: str) -> None:
    (tmp_path / "a.csv").write_bytes(b"Id,Name\nc1,x\nc2,\"y, z\"\n")
    (tmp_path / "b.json.gz").write_bytes(gzip.compress(orjson.dumps([{"Id": "j1"}, {"Id": "j2"}])))
    (tmp_path / "c.jsonl").write_bytes(b'{"Id":"l1"}\n')
    urls = [f"{file_server}/a.csv", f"{file_server}/b.json.gz", f"{file_server}/c.jsonl"]
    result = subprocess.run(
        [sys.executable, "-m", "streamer.cli.main", "urls", "--ordered", *urls],
        capture_output=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr.decode()
    records = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [r["Id"] for r in records] == ["c1", "c2", "j1", "j2", "l1"]
    assert records[1]["Name"] == "y, z"
    forced = subprocess.run(
        [sys.executable, "-m", "streamer.cli.main", "urls", "--input-format", "jsonl", urls[0]],
        capture_output=True, timeout=60,
    )
    assert forced.returncode == 1 and b"line 1" in forced.stderr  # an explicit format still wins


def test_shell_completion_script_and_answers() -> None:
    env = {"_STREAMER_COMPLETE": "bash_source"}
    script = CliRunner().invoke(cli, [], prog_name="streamer", env=env, standalone_mode=True)
    assert "_streamer_completion" in script.output and "complete -o nosort -F" in script.output
    answers = CliRunner().invoke(
        cli, [], prog_name="streamer",
        env={"_STREAMER_COMPLETE": "bash_complete", "COMP_WORDS": "streamer me", "COMP_CWORD": "1"},
    )
    assert "plain,mews" in answers.output
    options = CliRunner().invoke(
        cli, [], prog_name="streamer",
        env={"_STREAMER_COMPLETE": "bash_complete", "COMP_WORDS": "streamer mews --export-t", "COMP_CWORD": "2"},
    )
    assert "plain,--export-timeout" in options.output

