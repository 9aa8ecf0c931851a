"""The CI switch: under ``STREAMER_REQUIRE_ALL=1`` a missing PostgreSQL or package fails, never skips."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

NO_POSTGRES = '''
import tests.support.pg_fixture as pg
pg.find_bindir = lambda: None  # a machine without initdb
from tests.support.pg_fixture import postgres_dsn

def test_needs_postgres(postgres_dsn):
    assert postgres_dsn
'''

NO_PACKAGE = '''
import pytest
from tests.support.require import require_module

def test_needs_a_package():
    require_module("streamer_no_such_package", "pip install it")

def test_skips_on_its_own():
    pytest.importorskip("streamer_no_such_package_either")

@pytest.mark.xfail(strict=True, reason="an expected failure is not a skip")
def test_expected_failure():
    assert False
'''


def _pytest(tmp_path: Path, source: str, *, require_all: bool) -> subprocess.CompletedProcess[str]:
    test = tmp_path / "test_generated.py"
    test.write_text(source)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("STREAMER_REQUIRE_ALL", None)
    if require_all:
        env["STREAMER_REQUIRE_ALL"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest", "-rA", str(test)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.parametrize(
    "source, tests, outcome",
    [(NO_POSTGRES, 1, "error"), (NO_PACKAGE, 2, "failed")],  # a fixture that fails makes an error
    ids=["postgres", "package"],
)
def test_missing_requirements_skip_locally_and_fail_in_ci(tmp_path: Path, source: str, tests: int, outcome: str) -> None:
    local = _pytest(tmp_path, source, require_all=False)
    assert local.returncode == 0, local.stdout
    assert _outcomes(local.stdout) == {"skipped": tests, **_XFAIL[source]}

    ci = _pytest(tmp_path, source, require_all=True)
    assert ci.returncode == 1, ci.stdout
    assert _outcomes(ci.stdout) == {outcome: tests, **_XFAIL[source]}  # an xfail stays an xfail
    assert "STREAMER_REQUIRE_ALL=1" in ci.stdout


_XFAIL = {NO_POSTGRES: {}, NO_PACKAGE: {"xfailed": 1}}


def _outcomes(stdout: str) -> dict[str, int]:
    """pytest's last line, ``2 failed, 1 xfailed in 1.06s`` → {"failed": 2, "xfailed": 1}."""
    summary = stdout.strip().splitlines()[-1]
    return {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", summary.rsplit(" in ", 1)[0])}


def test_ci_exports_the_switch_before_the_readme_command() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert script.index("export STREAMER_REQUIRE_ALL=1") < script.index('bash -euo pipefail -c "$test_command"')
