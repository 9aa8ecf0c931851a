"""``dask_client``: one LocalCluster of two worker processes per test session (on first use).

Tests that kill a worker leave the cluster whole: the nanny restarts the
process; :func:`two_workers` waits for it before the next test relies on two.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

_cluster: dict[str, Any] = {}


@pytest.fixture(scope="session")
def dask_client(request: pytest.FixtureRequest) -> Any:
    if "client" in _cluster:
        return _cluster["client"]
    from streamer.distributed import connect

    stack = contextlib.ExitStack()
    _cluster["client"] = stack.enter_context(connect(workers=2))

    def stop() -> None:
        _cluster.clear()
        stack.close()

    request.config.add_cleanup(stop)
    return _cluster["client"]


def two_workers(client: Any) -> Any:
    client.wait_for_workers(2, timeout=30)
    return client
