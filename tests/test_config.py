"""Options from the command line, environment variables and a TOML config file; help for every command."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import anyio
import click
import pytest
from click.testing import CliRunner

from streamer.cli.main import cli
from streamer.simulator import Simulator
from tests.support.sinks import sqlite_rows


def resolve(args: list[str], env: dict[str, str] | None = None, command: str = "urls") -> dict[str, Any]:
    """The parameters ``streamer ARGS`` would run ``command`` with (parsed, not executed)."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in (env or {}).items():
            mp.setenv(key, value)
        group_args = args[: args.index(command)]
        with cli.make_context("streamer", group_args + [command], resilient_parsing=False) as ctx:
            sub = cli.commands[command]
            rest = args[args.index(command) + 1 :]
            with sub.make_context(command, rest, parent=ctx) as sub_ctx:
                return dict(sub_ctx.params)


def test_env_vars_reach_sub_command_options() -> None:
    params = resolve(["urls", "http://x/a.jsonl"], {"STREAMER_URLS_CONCURRENCY": "7", "STREAMER_URLS_SINK": "sqlite:///e.db",
                                                    "STREAMER_URLS_BAD_LINES": "skip"})
    assert (params["concurrency"], params["sink"], params["bad_lines"]) == (7, "sqlite:///e.db", "skip")


def test_config_file_sections_and_precedence(tmp_path: Path) -> None:
    config = tmp_path / "streamer.toml"
    config.write_text(
        'log-format = "json"\n'
        "[defaults]\nconcurrency = 3\nsink = \"sqlite:///from-defaults.db\"\nport = 9999\n"
        "[urls]\nbatch-size = 250\nformat = \"singer\"\ninput_format = \"csv\"\n"
    )
    params = resolve(["--config", str(config), "urls", "http://x/a.csv"])
    assert params["concurrency"] == 3 and params["batch_size"] == 250
    assert params["format"] == "singer" and params["input_format"] == "csv"
    assert params["sink"] == "sqlite:///from-defaults.db"
    # [defaults] only applies options a command has: simulate gets port, urls does not
    assert resolve(["--config", str(config), "simulate"], command="simulate")["port"] == 9999
    # environment beats the file; the command line beats both
    env = {"STREAMER_URLS_CONCURRENCY": "5"}
    assert resolve(["--config", str(config), "urls", "u"], env)["concurrency"] == 5
    assert resolve(["--config", str(config), "urls", "u", "--concurrency", "9"], env)["concurrency"] == 9
    # STREAMER_CONFIG names the file too
    assert resolve(["urls", "u"], {"STREAMER_CONFIG": str(config)})["batch_size"] == 250
    with cli.make_context("streamer", ["--config", str(config), "urls"]) as ctx:
        assert ctx.params["log_format"] == "json"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[urls]\nconcurency = 3\n", "unknown option 'concurency'"),
        ("[nosuchcommand]\nx = 1\n", "unknown section [nosuchcommand]"),
        ("[defaults]\nfrobnicate = 1\n", "no command has option(s) frobnicate"),
        ("concurrency = [", "not valid TOML"),
    ],
)
def test_config_mistakes_are_errors_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    result = CliRunner().invoke(cli, ["--config", str(config), "urls", "--help"])
    assert result.exit_code == 2
    assert message in result.output and "bad.toml" in result.output


def test_missing_config_file() -> None:
    result = CliRunner().invoke(cli, ["--config", "/nonexistent/streamer.toml", "urls", "--help"])
    assert result.exit_code == 2 and "does not exist" in result.output


async def test_config_and_env_drive_a_real_run(sim: Simulator, tmp_path: Path) -> None:
    """End to end (a real process): the sink comes from the file, the batch size from the environment."""
    export = sim.add_export("Payment", records=700, parts=2)
    config = tmp_path / "streamer.toml"
    config.write_text(f'quiet = true\n[urls]\nsink = "sqlite:///{tmp_path}/cfg.db?layout=json"\nentity-type = "Payment"\n')
    env = {**os.environ, "STREAMER_CONFIG": str(config), "STREAMER_URLS_BATCH_SIZE": "100"}
    result = await anyio.run_process([sys.executable, "-m", "streamer.cli.main", "urls", *sim.file_urls(export)],
                                     env=env, check=False)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b"" and result.stderr == b""  # records went to the sink; quiet from the file
    ids = [row[0] for row in sqlite_rows(tmp_path / "cfg.db")["payment"]]
    assert sorted(ids) == sorted(export.ids())


def test_every_help_renders_with_its_options() -> None:
    runner = CliRunner()
    top = runner.invoke(cli, ["--help"])
    assert top.exit_code == 0
    for text in ("Examples:", "--config", "--log-format", "STREAMER_", "Exit codes", "143"):
        assert text in top.output
    assert set(cli.commands) >= {"urls", "simulate", "demo"}
    for name, command in cli.commands.items():
        result = runner.invoke(cli, [name, "--help"], prog_name="streamer")
        assert result.exit_code == 0, (name, result.output)
        assert result.output.startswith(f"Usage: streamer {name}")
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert param.opts[-1] in result.output, (name, param.opts)
    urls_help = runner.invoke(cli, ["urls", "--help"]).output
    assert "Examples:" in urls_help and "--sink URL" in urls_help and "sqlite:///out.db" in urls_help
