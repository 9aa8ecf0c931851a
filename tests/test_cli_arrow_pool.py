"""The CLI picks Arrow's system allocator for its process (lower peak RSS for typed sinks), unless told otherwise."""

from __future__ import annotations

import subprocess
import sys

import pytest

import streamer.cli.main as cli_main


@pytest.mark.parametrize(("preset", "expected"), [(None, "system"), ("jemalloc", "jemalloc")])
def test_main_sets_the_arrow_pool_unless_the_environment_did(
    monkeypatch: pytest.MonkeyPatch, preset: str | None, expected: str
) -> None:
    if preset is None:
        monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    else:
        monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", preset)
    seen: list[str | None] = []
    monkeypatch.setattr(cli_main, "cli", lambda **_: seen.append(cli_main.os.environ.get("ARROW_DEFAULT_MEMORY_POOL")))
    cli_main.main()
    assert seen == [expected]


def test_pyarrow_in_a_cli_process_uses_the_system_pool() -> None:
    code = (
        "import os, sys; os.environ.pop('ARROW_DEFAULT_MEMORY_POOL', None)\n"
        "import streamer.cli.main as m\n"
        "m.cli = lambda **_: print(__import__('pyarrow').default_memory_pool().backend_name)\n"
        "m.main()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "system"
