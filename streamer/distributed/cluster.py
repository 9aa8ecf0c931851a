"""Getting a ``distributed.Client``: a local cluster of worker processes, or an existing scheduler."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from streamer.errors import ConfigError

# How long a LocalCluster waits for a lost worker's name to re-register before it closes that
# worker's nanny for good.  Dask's 15 s default races the nanny's own restart: a worker killed
# twice within 15 s loses its slot when the first death's timer fires during the second restart
# (seen in CI: one of two workers gone for the rest of the run).  Our nannies live in this
# process and restart their worker themselves, so the timer only ever removes a healthy slot.
_LOST_WORKER_TIMEOUT = "1 day"


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigError("running on a cluster needs Dask: pip install 'streamer[dask]'") from exc
    return distributed


@contextlib.contextmanager
def connect(
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    env: Mapping[str, str] | None = None,
    threads_per_worker: int = 1,
) -> Iterator[Any]:
    """A synchronous ``Client``: of a new ``LocalCluster`` of ``workers`` processes on this
    machine (scheduler and dashboard on 127.0.0.1, random ports), or of ``scheduler``.

    ``env`` is added to the local workers' environment (how a credential
    reaches them without travelling in a task); an existing cluster's
    workers have their own environment, set where they were started.
    """
    distributed = _distributed()
    if (workers is None) == (scheduler is None):
        raise ConfigError("give either a number of local workers or a scheduler address, not both")
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout="30s")
        except OSError as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
        with client:
            yield client
        return
    assert workers is not None
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, not {workers}")
    import dask  # installed with distributed

    with dask.config.set({"distributed.deploy.lost-worker-timeout": _LOST_WORKER_TIMEOUT}):
        cluster = distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            host="127.0.0.1",
            scheduler_port=0,
            dashboard_address="127.0.0.1:0",
            env=dict(env or {}),
        )
        with cluster, distributed.Client(cluster) as client:
            yield client
