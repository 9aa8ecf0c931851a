"""``--workers N`` / ``--scheduler tcp://HOST:PORT``: run a command's parts on a Dask cluster.

:func:`dask_options` adds the two options to a command; :func:`execute`
(:mod:`streamer.cli.execute`) hands the run to :func:`execute_on_cluster`
when either is given.  The command builds its source as usual; the
coordinator here creates and polls the export, and the workers stream the
parts into ``--sink`` (``postgresql://`` or ``dir://``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from streamer.assembly import RunPlan, RunStats
    from streamer.providers.base import Source

F = Callable[..., Any]

_OPTIONS = [
    click.option(
        "--workers",
        type=click.IntRange(min=1),
        help="Stream the parts on a local Dask cluster of N worker processes (extra dask; "
        "--sink postgresql://... or dir://...).",
    ),
    click.option(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="Stream the parts on the Dask cluster of this scheduler; its workers read credentials "
        "(PGPASSWORD, vendor tokens) from their own environment.",
    ),
]


def dask_options(func: F) -> F:
    for option in reversed(_OPTIONS):
        func = option(func)
    return func


def _params() -> dict[str, Any]:
    ctx = click.get_current_context(silent=True)
    return dict(ctx.params) if ctx is not None else {}


def cluster_requested() -> bool:
    """The running command was given ``--workers`` or ``--scheduler``."""
    params = _params()
    return bool(params.get("workers") or params.get("scheduler"))


def execute_on_cluster(
    plan: RunPlan, source: Source, *, quiet: bool, after: Callable[[RunStats], None] | None = None
) -> RunStats:
    """Run ``plan`` with its parts on the cluster the options name; report like :func:`~streamer.cli.execute.execute`.

    A failure propagates to the command group: one line and an exit code.
    """
    from streamer.cli.execute import tune_gc
    from streamer.distributed.cluster import connect
    from streamer.distributed.targets import target_for, url_password, without_password

    params = _params()
    workers, scheduler, sink_url = params.get("workers"), params.get("scheduler"), params.get("sink")
    if workers and scheduler:
        raise click.UsageError("--workers starts a local cluster and --scheduler names one: use one")
    if not sink_url:
        raise click.UsageError("a cluster run writes from many processes: give --sink postgresql://... or dir://...")
    if params.get("state"):
        raise click.UsageError("--state is not used on a cluster: the sink's own checkpoints are the state")
    env: dict[str, str] = {}
    password = url_password(sink_url)
    if password:
        if scheduler:
            raise click.UsageError(
                "the --sink password would travel in every task: drop it from the URL and set "
                "PGPASSWORD (or ~/.pgpass) where the workers run"
            )
        env["PGPASSWORD"] = password  # reaches the local workers through their environment only
        sink_url = without_password(sink_url)
    target_for(sink_url)  # one line for a single-writer sink, before a cluster starts
    tune_gc()
    with connect(workers=workers, scheduler=scheduler, env=env) as client:
        if workers:
            client.run(tune_gc)  # our own worker processes: tuned like this one
        stats = plan.on_cluster(client, sink_url).run_sync(source)
    if not quiet:
        click.echo(f"streamer: {stats.summary()}", err=True)
    if after is not None:
        after(stats)
    return stats
