"""``streamer rebilly``: Rebilly data exports to stdout (JSONL or Singer)."""

from __future__ import annotations

import sys
from typing import Any

import anyio
import click
import orjson

from streamer.cli.execute import execute, plan_from_options
from streamer.cli.options import RenamedOptionsCommand, export_options
from streamer.errors import ConfigError
from streamer.http.retry import RetryPolicy
from streamer.http.session import open_session
from streamer.incremental.cli import build_incremental, incremental_options
from streamer.providers.rebilly import DEFAULT_PREFIX, DateRange, ExportRequest, RebillySource, Recurring
from streamer.providers.rebilly.catalog import FORMATS as EXPORT_FORMATS
from streamer.providers.rebilly.catalog import RESOURCES, date_field_help
from streamer.providers.rebilly.source import DEFAULT_MAX_RATE_LIMIT_WAIT


@click.command("rebilly", cls=RenamedOptionsCommand, renamed={"--timeout": "--export-timeout"},
               old_env={"filter_": "filter", "fields": "field", "emails": "email", "export_ids": "export_id",
                        "timeout": "export_timeout"})
@click.option("--api-key", envvar="REBILLY_API_KEY", show_envvar=True,
              help="Secret API key, sent as REB-APIKEY (prefer the environment variable).")
@click.option("--jwt", envvar="REBILLY_JWT", show_envvar=True, help="A JWT instead of an API key (Authorization: Bearer); wins over an API key.")
@click.option("--organization-id", envvar="REBILLY_ORGANIZATION_ID", show_envvar=True, help="Organization id.")
@click.option("--sandbox", is_flag=True, help="Use https://api-sandbox.rebilly.com (default: the live API).")
@click.option("--base-url", help="Any other API root (e.g. a local simulator); /organizations/{id} is appended.")
@click.option("--path-prefix", default=DEFAULT_PREFIX, show_default=True,
              help="Where data exports are mounted (/experimental/data-exports per the spec, or /data-exports).")
@click.option("--resource", type=click.Choice(list(RESOURCES)), default="transactions", show_default=True,
              help="What to export (Rebilly's exportable resources).")
@click.option("--export-format", type=click.Choice(EXPORT_FORMATS), default="csv", show_default=True,
              help="Format Rebilly writes (detailed-csv is read as CSV; xml and pdf carry no records and are "
              "refused; not every resource has every format). "
              "--format is the output format.")
@click.option("--name", help="Export name, at most 50 characters (default: 'streamer <resource> <UTC time>').")
@click.option("--filter", help='Rebilly filter, e.g. "result:approved;currency:USD,EUR".')
@click.option("--sort", help='Sort field, "-" prefix for descending, e.g. "-createdTime".')
@click.option("--q", help="Partial text search.")
@click.option("--field", multiple=True, help="Field to include (repeatable; default: Rebilly's set).")
@click.option("--date-start", help='Start of the date range (any Rebilly datetime, e.g. "yesterday").')
@click.option("--date-end", help='End of the date range (e.g. "today").')
@click.option("--date-field", help=f"Field the date range applies to (Rebilly's default: {date_field_help()}).")
@click.option("--recurring", metavar="RRULE", help='Make it recurring: an RFC 5545 RRULE such as "FREQ=DAILY;BYHOUR=2".')
@click.option("--recurring-start", help="When the first recurring run happens (date-time).")
@click.option("--email", multiple=True, help="Email notified when the export completes (repeatable).")
@click.option("--export-id", multiple=True, help="Stream this existing export instead of creating one (repeatable).")
@click.option("--all-exports", is_flag=True, help="Stream every export of the listing (see --list-filter).")
@click.option("--list-filter", help='Filter for --all-exports / --list-exports, e.g. "status:completed".')
@click.option("--list-exports", is_flag=True, help="Print the exports (one JSON object per line) and exit.")
@click.option("--poll-interval", default=2.0, show_default=True, help="Seconds before the first status check (then x1.5).")
@click.option("--max-poll-interval", default=30.0, show_default=True, help="Longest wait between status checks.")
@click.option("--max-rate-limit-wait", default=DEFAULT_MAX_RATE_LIMIT_WAIT, show_default=True,
              help="Longest wait honoured for X-RateLimit-Retry-After (Rebilly's rate windows are 10 minutes).")
@click.option("--export-timeout", default=6 * 3600.0, show_default=True, help="Seconds an export may take, counted from its creation, before the run fails.")
@incremental_options
@export_options
@click.pass_context
def command(
    ctx: click.Context,
    api_key: str | None,
    jwt: str | None,
    organization_id: str | None,
    sandbox: bool,
    base_url: str | None,
    path_prefix: str,
    resource: str,
    export_format: str,
    name: str | None,
    filter: str | None,  # named after the option, as its env var is
    sort: str | None,
    q: str | None,
    field: tuple[str, ...],
    date_start: str | None,
    date_end: str | None,
    date_field: str | None,
    recurring: str | None,
    recurring_start: str | None,
    email: tuple[str, ...],
    export_id: tuple[str, ...],
    all_exports: bool,
    list_filter: str | None,
    list_exports: bool,
    poll_interval: float,
    max_poll_interval: float,
    export_timeout: float,
    incremental: bool,
    overlap: float,
    since: Any,
    max_rate_limit_wait: float,
    **options: Any,
) -> None:
    """Request a Rebilly data export, wait for it, and stream every record as one JSON object per line.

    CSV, JSON (an array, never loaded whole) and JSON:API exports are read
    record by record; exports over 1,000,000 records arrive as a ZIP of parts
    and are streamed part by part.  The export id is printed on stderr: pass
    it back with --export-id to stream it again without a new export.

    \b
    Examples:
      export REBILLY_API_KEY=sk_live_... REBILLY_ORGANIZATION_ID=org_...
      streamer rebilly --resource transactions --export-format csv \\
          --date-start yesterday --date-end today --filter "result:approved" > tx.jsonl
      streamer rebilly --sandbox --resource customers --export-format json --format singer
      streamer rebilly --export-id 4f6cf35x-2c4y-483z-a0a9-158621f77a21 | jq .id
      streamer rebilly --list-exports --list-filter status:completed
      streamer rebilly --resource customers --export-format json --incremental --sink sqlite:///billing.db
    """
    quiet = ctx.obj["quiet"] if ctx.obj else False
    if not organization_id:
        raise click.UsageError("missing --organization-id (or $REBILLY_ORGANIZATION_ID)")
    if not api_key and not jwt:
        raise click.UsageError("missing --api-key (or $REBILLY_API_KEY), or --jwt (or $REBILLY_JWT)")
    if bool(date_start) != bool(date_end):
        raise click.UsageError("--date-start and --date-end go together (Rebilly requires both)")
    plan = plan_from_options(options, quiet=quiet)
    config = plan.config
    request = ExportRequest(
        resource=resource,
        format=export_format,
        name=name,
        filter=filter,
        sort=sort,
        q=q,
        fields=field,
        date_range=DateRange(date_start, date_end, date_field) if date_start and date_end else None,
        recurring=Recurring(recurring, recurring_start) if recurring else None,
        email_notification=email,
    )
    # --state: an export created by an interrupted run (same request) is streamed, not requested again
    remember = None
    changes = build_incremental(incremental=incremental, overlap=overlap, since=since)
    export_ids = export_id
    if plan.exports.persistent and not export_ids and not all_exports and not list_exports and changes is None:
        key = request.fingerprint()
        known = plan.exports.known("rebilly").get(key)
        if known:
            export_ids = (known,)
            if not quiet:
                click.echo(f"streamer: resuming Rebilly export {known} saved in the state file", err=True)

        def remember(export: dict[str, Any]) -> None:
            plan.exports.remember("rebilly", key, str(export["id"]))

    try:
        source = RebillySource(
            organization_id=organization_id,
            api_key=api_key if not jwt else None,
            jwt=jwt,
            request=request,
            export_ids=export_ids,
            from_list=all_exports,
            list_filter=list_filter,
            sandbox=sandbox,
            base_url=base_url,
            path_prefix=path_prefix,
            poll_interval=poll_interval,
            max_poll_interval=max(max_poll_interval, poll_interval),
            timeout=export_timeout,
            retry=RetryPolicy(max_attempts=config.retry.max_attempts),
            max_rate_limit_wait=max_rate_limit_wait,
            on_export_created=remember,
            incremental=changes or False,
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    if list_exports:
        _print_listing(source, list_filter, config)
        return

    def announce(stats: Any) -> None:
        if not quiet:
            for export in source.exports:
                click.echo(
                    f"streamer: Rebilly export {export.get('id')} ({export.get('recordCount', '?')} records; "
                    f"stream it again: --export-id {export.get('id')})",
                    err=True,
                )

    execute(plan, source, quiet=quiet, after=announce)


def _print_listing(source: RebillySource, list_filter: str | None, config: Any) -> None:
    async def main() -> None:
        async with open_session(config.http) as session:
            async for export in source.api(session).list_exports(filter=list_filter, limit=source.page_size):
                sys.stdout.buffer.write(orjson.dumps(export) + b"\n")

    anyio.run(main, backend="asyncio")  # failures: one line and exit 1, from the command group
