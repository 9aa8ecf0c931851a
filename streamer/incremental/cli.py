"""The ``--incremental`` options shared by the commands of providers with a change filter."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import click

from streamer.incremental.windows import Incremental

F = TypeVar("F", bound=Callable[..., Any])

_DATETIME = click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S"])


def incremental_options(func: F) -> F:
    """``--incremental``, ``--overlap``, ``--since``."""
    func = click.option(
        "--since", type=_DATETIME,
        help="--incremental: where the first run starts (UTC) when there is no bookmark yet (default: everything).",
    )(func)
    func = click.option(
        "--overlap", type=click.FloatRange(min=0), default=5.0, show_default=True, metavar="MINUTES",
        help="--incremental: start this long before the bookmark, for changes stamped before they were visible.",
    )(func)
    return click.option(
        "--incremental", is_flag=True,
        help="Export only what changed since the last run's bookmark, kept in the storing sink "
        "(sqlite:, duckdb:, postgresql:, dir:) or in --state FILE.",
    )(func)


def build_incremental(*, incremental: bool, overlap: float, since: datetime | None) -> Incremental | None:
    if not incremental:
        if since is not None:
            raise click.UsageError("--since only applies to --incremental runs (use --updated-from otherwise)")
        return None
    return Incremental(overlap=timedelta(minutes=overlap), since=since)


def refuse_incremental(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    """For LogiSense: its DataExport has no documented change filter."""
    if value:
        raise click.UsageError(
            "LogiSense's DataExport has no documented change filter, so --incremental cannot export only what "
            "changed; run a full export into a table sink (sqlite:, postgresql:, duckdb:), which upserts by Id"
        )
    return value
