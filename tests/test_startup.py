"""Start-up imports only what the command runs: ``streamer --help`` loads no aiohttp.

Checked by what a fresh interpreter has in ``sys.modules`` — a timed test
would be flaky on a shared machine (``benchmarks/startup.py`` measures time).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from streamer.cli.main import COMMANDS, cli

HEAVY = ("aiohttp", "msgspec", "tqdm", "streamer.simulator", "streamer.providers", "streamer.sinks",
         "streamer.engine", "streamer.api")


def modules_after(code: str) -> set[str]:
    probe = f"""
import json, sys
try:
    {code}
except SystemExit:
    pass
sys.__stdout__.write("\\n" + json.dumps(sorted(sys.modules)))
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


def loaded(modules: set[str], package: str) -> bool:
    return any(name == package or name.startswith(package + ".") for name in modules)


@pytest.mark.parametrize("argv", [["--help"], ["--version"]])
def test_help_imports_nothing_heavy(argv: list[str]) -> None:
    modules = modules_after(f"sys.argv = ['streamer', *{argv!r}]; from streamer.cli.main import main; main()")
    assert "click" in modules  # the probe does see the imports
    assert [name for name in HEAVY if loaded(modules, name)] == []


def test_import_streamer_is_lazy_until_a_name_is_used() -> None:
    assert [name for name in HEAVY if loaded(modules_after("import streamer"), name)] == []
    used = modules_after("import streamer; streamer.run")
    assert loaded(used, "streamer.api") and loaded(used, "aiohttp")


def test_a_command_loads_only_its_own_module() -> None:
    modules = modules_after("sys.argv = ['streamer', 'urls', '--help']; from streamer.cli.main import main; main()")
    assert "streamer.cli.urls" in modules
    assert not {"streamer.cli.mews", "streamer.cli.rebilly", "streamer.cli.demo"} & modules
    assert not loaded(modules, "streamer.simulator")


def test_lazy_short_help_matches_each_command() -> None:
    """``streamer --help`` shows the table in main.py; it must say what each command's docstring says."""
    for name, short_help in COMMANDS.items():
        command = cli.commands[name]
        assert command.get_short_help_str(limit=200) == short_help, name


def test_help_lists_every_command() -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert f"  {name} " in result.output
