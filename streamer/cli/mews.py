"""``streamer mews``: Mews Connector exports to stdout (JSONL or Singer)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import click

from streamer.cli.execute import execute, plan_from_options
from streamer.cli.options import RenamedOptionsCommand, export_options
from streamer.errors import ConfigError
from streamer.incremental.cli import build_incremental, incremental_options
from streamer.providers.mews import ENTITY_TYPES, MewsSource, PollPolicy
from streamer.providers.mews.client import DEFAULT_CLIENT, DEMO_PLATFORM_URL

_DATETIME = click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S"])
_DATE = click.DateTime(["%Y-%m-%d"])


def _export_ids(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    known: dict[str, str] = {}
    for value in values:
        entity, sep, export_id = value.partition("=")
        if not sep or not entity or not export_id.strip():
            raise click.BadParameter(f"expected ENTITY=ID, got {value!r}", ctx=ctx, param=param)
        if entity not in ENTITY_TYPES:
            raise click.BadParameter(f"unknown entity type {entity!r}", ctx=ctx, param=param)
        known[entity] = export_id.strip()
    return known


@click.command("mews", cls=RenamedOptionsCommand, renamed={"--deadline": "--export-timeout"},
               old_env={"entities": "entity", "enterprise_ids": "enterprise_id", "chain_ids": "chain_id",
                        "export_ids": "export_id", "deadline": "export_timeout"})
@click.option("--entity", multiple=True, required=True, type=click.Choice(ENTITY_TYPES),
              help="Entity type to export (repeatable).")
@click.option("--platform-url", envvar="MEWS_PLATFORM_URL", show_envvar=True,
              help=f"Mews platform address, e.g. {DEMO_PLATFORM_URL} or https://api.mews.com.")
@click.option("--client-token", envvar="MEWS_CLIENT_TOKEN", show_envvar=True,
              help="ClientToken (prefer the environment variable: command lines are visible to others).")
@click.option("--access-token", envvar="MEWS_ACCESS_TOKEN", show_envvar=True,
              help="AccessToken (a portfolio token exports every enterprise it covers).")
@click.option("--client", default=DEFAULT_CLIENT, show_default=True, help="Client name and version sent to Mews.")
@click.option("--updated-from", type=_DATETIME, help="Only entities updated at or after this UTC time.")
@click.option("--updated-to", type=_DATETIME,
              help="…and before this UTC time (≥ 5 min ago; default: 5 min ago; span ≤ 180 days).")
@click.option("--enterprise-id", multiple=True, help="Scope to this enterprise (repeatable, ≤ 1000).")
@click.option("--chain-id", multiple=True, help="Scope to this chain (repeatable, ≤ 1000).")
@click.option("--posting-from", type=_DATE, help="LedgerEntry: first posting date (required with LedgerEntry).")
@click.option("--posting-to", type=_DATE, help="LedgerEntry: last posting date.")
@click.option("--export-id", multiple=True, callback=_export_ids, metavar="ENTITY=ID",
              help="Id of an export created earlier: reused when Mews says one is already running (repeatable).")
@click.option("--reuse-exports", is_flag=True,
              help="Stream the --export-id exports (if still Pending/Processing/Success) instead of creating new ones.")
@click.option("--export-timeout", default=4 * 3600.0, show_default=True,
              help="Seconds an export may take, counted from its creation, before the run fails.")
@click.option("--poll-interval", default=5.0, show_default=True, help="Seconds before the first poll (then doubling).")
@click.option("--max-poll-interval", default=180.0, show_default=True,
              help="Longest wait between polls (Mews suggests polling every few minutes).")
@click.option("--recreate-failed", is_flag=True, help="Create a new export when Mews reports one as Failed.")
@click.option("--url-ttl", default=600.0, show_default=True, help="Seconds a Mews file URL stays valid.")
@incremental_options
@export_options
@click.pass_context
def command(
    ctx: click.Context,
    entity: tuple[str, ...],
    platform_url: str | None,
    client_token: str | None,
    access_token: str | None,
    client: str,
    updated_from: datetime | None,
    updated_to: datetime | None,
    enterprise_id: tuple[str, ...],
    chain_id: tuple[str, ...],
    posting_from: datetime | None,
    posting_to: datetime | None,
    export_id: dict[str, str],
    reuse_exports: bool,
    export_timeout: float,
    poll_interval: float,
    max_poll_interval: float,
    recreate_failed: bool,
    url_ttl: float,
    incremental: bool,
    overlap: float,
    since: datetime | None,
    **options: Any,
) -> None:
    """Export Mews entities and stream every record to stdout, one JSON object per line.

    Creates one export per --entity (exports/add), polls them together
    (exports/getAll), streams each one's JSONL files as soon as it succeeds,
    re-signing the 10-minute file URLs as needed.  Records keep their
    EnterpriseId (or ChainId).  Ids of created exports are printed on stderr:
    pass them back with --export-id if a run is interrupted.

    \b
    Examples:
      export MEWS_PLATFORM_URL=https://api.mews-demo.com
      export MEWS_CLIENT_TOKEN=... MEWS_ACCESS_TOKEN=...
      streamer mews --entity OrderItem --entity Payment > items.jsonl
      streamer mews --entity Reservation --updated-from 2025-01-01 --updated-to 2025-02-01 | jq .State
      streamer mews --entity LedgerEntry --posting-from 2025-01-01 --posting-to 2025-01-31 --format singer
      streamer mews --entity Customer --export-id Customer=3fa85f64-5717-4562-b3fd-2c963f66afa6
      streamer mews --entity OrderItem --incremental --sink sqlite:///nightly.db   # changes since the last run
    """
    quiet = ctx.obj["quiet"] if ctx.obj else False
    missing = [
        f"{flag} (or ${env})"
        for value, flag, env in (
            (platform_url, "--platform-url", "MEWS_PLATFORM_URL"),
            (client_token, "--client-token", "MEWS_CLIENT_TOKEN"),
            (access_token, "--access-token", "MEWS_ACCESS_TOKEN"),
        )
        if not value
    ]
    if missing:
        raise click.UsageError(f"missing {', '.join(missing)}")

    plan = plan_from_options(options, quiet=quiet)
    # --state: exports created by an interrupted run are reused, not created again
    export_ids = {**plan.exports.known("mews"), **export_id}

    def announce(entity: str, export_id: str) -> None:
        plan.exports.remember("mews", entity, export_id)
        if not quiet:
            click.echo(
                f"streamer: created Mews {entity} export {export_id} (reuse: --export-id {entity}={export_id})",
                err=True,
            )

    config = plan.config
    try:
        source = MewsSource(
            platform_url=platform_url or "",
            client_token=client_token or "",
            access_token=access_token or "",
            entity_types=entity,
            client=client,
            enterprise_ids=enterprise_id,
            chain_ids=chain_id,
            updated_from=updated_from,
            updated_to=updated_to,
            posting_from=_day(posting_from),
            posting_to=_day(posting_to),
            known_exports=export_ids,
            poll=PollPolicy(
                initial_interval=poll_interval,
                max_interval=max(max_poll_interval, poll_interval),
                deadline=export_timeout,
                recreate_failed=recreate_failed,
                reuse_known=reuse_exports or plan.exports.persistent,
            ),
            url_ttl=url_ttl,
            retry=config.retry,
            on_export_created=announce,
            incremental=build_incremental(incremental=incremental, overlap=overlap, since=since) or False,
        )
    except (ConfigError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
    execute(plan, source, quiet=quiet)


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None
