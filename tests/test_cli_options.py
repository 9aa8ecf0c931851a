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
        assert seen["export_timeout"] == 12.0
        assert "--deadline is deprecated; use --export-timeout" in old.stderr
        seen.clear()
        new = runner.invoke(cli, ["mews", "--entity", "OrderItem", "--export-timeout", "13"])
        assert seen["export_timeout"] == 13.0 and "deprecated" not in new.stderr
    finally:
        command.callback = original


def _params_of(command_name: str, args: list[str], env: dict[str, str], tmp_path: Path | None = None,
               config: str | None = None) -> tuple[dict[str, object], str]:
    """(the parameters ``streamer [--config F] COMMAND ARGS`` runs with, its stderr), not executed."""
    seen: dict[str, object] = {}
    command = cli.commands[command_name]
    original = command.callback
    command.callback = lambda **kwargs: seen.update(kwargs)
    group: list[str] = []
    if config is not None:
        assert tmp_path is not None
        (tmp_path / "s.toml").write_text(config)
        group = ["--config", str(tmp_path / "s.toml")]
    try:
        result = CliRunner().invoke(cli, group + [command_name, *args], env=env)
    finally:
        command.callback = original
    assert result.exit_code == 0, result.output
    return seen, result.stderr


def test_every_env_var_follows_its_option_name() -> None:
    """STREAMER_<COMMAND>_<OPTION>: each parameter is named after its option (--export-timeout → export_timeout)."""
    import importlib

    import click

    from streamer.cli.main import COMMANDS

    mismatched = []
    for name in COMMANDS:
        command = importlib.import_module(f"streamer.cli.{name}").command
        for param in command.params:
            longs = [opt[2:].replace("-", "_") for opt in param.opts if opt.startswith("--")]
            if isinstance(param, click.Option) and longs and param.name not in longs:
                mismatched.append(f"{name} {param.opts[0]} → {param.name}")
    assert mismatched == []


@pytest.mark.parametrize(
    ("command", "args", "old", "new", "param", "value", "expected"),
    [
        ("mews", ["--entity", "OrderItem"], "STREAMER_MEWS_DEADLINE", "STREAMER_MEWS_EXPORT_TIMEOUT",
         "export_timeout", "12", 12.0),
        ("logisense", [], "STREAMER_LOGISENSE_TIMEOUT", "STREAMER_LOGISENSE_EXPORT_TIMEOUT", "export_timeout",
         "9", 9.0),
        ("logisense", [], "STREAMER_LOGISENSE_EXPORT_IDS", "STREAMER_LOGISENSE_TRIGGER", "trigger", "3 4", (3, 4)),
        ("rebilly", [], "STREAMER_REBILLY_TIMEOUT", "STREAMER_REBILLY_EXPORT_TIMEOUT", "export_timeout", "5", 5.0),
        ("urls", ["u"], "STREAMER_URLS_ENTITY_TYPE", "STREAMER_URLS_ENTITY", "entity", "Payment", "Payment"),
        ("urls", ["u"], "STREAMER_URLS_OUTPUT_FORMAT", "STREAMER_URLS_FORMAT", "format", "singer", "singer"),
    ],
)
def test_old_env_var_still_works_with_one_warning(
    command: str, args: list[str], old: str, new: str, param: str, value: str, expected: object
) -> None:
    seen, stderr = _params_of(command, args, {old: value})
    assert seen[param] == expected
    assert stderr.count("deprecated") == 1 and f"${old} is deprecated; use ${new}" in stderr
    seen, stderr = _params_of(command, args, {new: value})
    assert seen[param] == expected and "deprecated" not in stderr


def test_old_env_var_ranks_as_an_environment_variable(tmp_path: Path) -> None:
    """Command line > new variable > old variable > config file > default."""
    args = ["--entity", "OrderItem"]
    old = {"STREAMER_MEWS_DEADLINE": "12"}
    config = "[mews]\nexport-timeout = 30\n"
    assert _params_of("mews", args, old, tmp_path, config)[0]["export_timeout"] == 12.0
    assert _params_of("mews", args, {}, tmp_path, config)[0]["export_timeout"] == 30.0
    both = {**old, "STREAMER_MEWS_EXPORT_TIMEOUT": "13"}
    seen, stderr = _params_of("mews", args, both)
    assert seen["export_timeout"] == 13.0 and "deprecated" not in stderr
    assert _params_of("mews", [*args, "--export-timeout", "14"], old)[0]["export_timeout"] == 14.0


def test_logisense_status_names_from_the_command_line_and_a_config_file(tmp_path: Path) -> None:
    seen, _ = _params_of("logisense", ["--status-name", "Exported=done", "--status-name", "Aborted = failed"], {})
    assert seen["status_name"] == {"Exported": "done", "Aborted": "failed"}
    seen, _ = _params_of("logisense", [], {}, tmp_path, '[logisense]\nstatus-name = ["Exported=done"]\n')
    assert seen["status_name"] == {"Exported": "done"}
    bad = CliRunner().invoke(cli, ["logisense", "--status-name", "Exported=finished"])
    assert bad.exit_code == 2
    assert "expected NAME=STATE with STATE one of pending, running, done, failed, cancelled" in bad.output


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

