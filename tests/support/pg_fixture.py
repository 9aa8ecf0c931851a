"""``postgres_dsn``: one throwaway PostgreSQL server per test session (see :mod:`tests.support.postgres`).

Several test modules import this fixture; the server behind it is started
once per pytest process (on first use) and stopped when the session ends.
"""

from __future__ import annotations

import contextlib

import pytest

from tests.support.postgres import find_bindir, temporary_postgres
from tests.support.require import missing

_server: dict[str, str] = {}


@pytest.fixture(scope="session")
def postgres_dsn(request: pytest.FixtureRequest) -> str:
    if "dsn" in _server:
        return _server["dsn"]
    bindir = find_bindir()
    if bindir is None:
        missing(
            "no PostgreSQL server binaries (initdb) on this machine; "
            ".ci/setup.d/20-postgres.sh installs them (apt-get install postgresql)"
        )
    stack = contextlib.ExitStack()
    _server["dsn"] = stack.enter_context(temporary_postgres(bindir))

    def stop() -> None:
        _server.clear()
        stack.close()

    request.config.add_cleanup(stop)
    return _server["dsn"]
