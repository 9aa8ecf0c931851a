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


def _set_env(values: dict[str, str | None]) -> None:
    import os

    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@contextlib.contextmanager
def worker_environment(client: Any, values: dict[str, str]) -> Any:
    """``values`` in every worker's environment for the block only (a vendor's credentials);
    set in the nannies too, so a worker process restarted after a kill has them as well."""
    for nanny in (False, True):
        client.run(_set_env, values, nanny=nanny)
    try:
        yield client
    finally:
        for nanny in (False, True):
            client.run(_set_env, dict.fromkeys(values), nanny=nanny)


def spy_on_specs(client: Any) -> tuple[list[Any], Any]:
    """``(specs, undo)``: every PartSpec the coordinator submits through ``client`` is kept."""
    specs: list[Any] = []
    original = client.submit

    def spy(func: Any, spec: Any, **kwargs: Any) -> Any:
        specs.append(spec)
        return original(func, spec, **kwargs)

    client.submit = spy

    def undo() -> None:
        del client.submit

    return specs, undo


async def kill_a_worker_when_two_parts_are_under_way(client: Any, stats: Any) -> None:
    """SIGKILL one worker process once two parts have committed records and are not done
    (one part per worker at a time: each worker is then inside a part)."""
    import os
    import signal

    import anyio
    import anyio.to_thread

    with anyio.fail_after(30):
        while sum(0 < p.records and not p.done for p in stats.parts.values()) < 2:
            await anyio.sleep(0.05)
    pids = await anyio.to_thread.run_sync(client.run, os.getpid)
    os.kill(min(pids.values()), signal.SIGKILL)
