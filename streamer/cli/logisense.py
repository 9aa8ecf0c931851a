"""``streamer logisense``: LogiSense Billing DataExport CSV files to stdout (JSONL or Singer)."""

from __future__ import annotations

from typing import Any

import click
import orjson

from streamer.cli.execute import execute, plan_from_options
from streamer.cli.options import RenamedOptionsCommand, export_options
from streamer.incremental.cli import refuse_incremental
from streamer.errors import ConfigError
from streamer.http.retry import RetryPolicy
from streamer.providers.logisense import LogisenseSource
from streamer.providers.logisense.lifecycle import STATES


def _json_object(ctx: click.Context, param: click.Parameter, value: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        body = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", ctx=ctx, param=param) from None
    if not isinstance(body, dict):
        raise click.BadParameter("must be a JSON object", ctx=ctx, param=param)
    return body


def _status_names(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    """``NAME=STATE`` pairs → ``status_names`` (LogiSense's status type names are a guess: docs/vendor-facts.md)."""
    names: dict[str, str] = {}
    for value in values:
        name, sep, state = value.rpartition("=")
        state = state.strip().lower()
        if not sep or not name.strip() or state not in STATES:
            raise click.BadParameter(f"expected NAME=STATE with STATE one of {', '.join(STATES)}, got {value!r}",
                                     ctx=ctx, param=param)
        names[name.strip()] = state
    return names


@click.command(
    "logisense",
    cls=RenamedOptionsCommand,
    renamed={"--export-id": "--trigger", "--timeout": "--export-timeout"},
    old_env={"export_ids": "trigger", "history_ids": "history_id", "timeout": "export_timeout"},
)
@click.option("--base-url", envvar="LOGISENSE_BASE_URL", show_envvar=True,
              help="Resource server API root, e.g. https://TENANT.logisensebilling.com/ResourceServer/api/v10/.")
@click.option("--tenant", envvar="LOGISENSE_TENANT", show_envvar=True,
              help="Tenant name: shorthand for https://TENANT.logisensebilling.com/ResourceServer/api/v10/.")
@click.option("--auth-url", envvar="LOGISENSE_AUTH_URL", show_envvar=True,
              help="Authorization server host (or full …/Access/Login URL); default: the base URL's host.")
@click.option("--username", envvar="LOGISENSE_USERNAME", show_envvar=True, help="User for the password grant (the docs' Option 1).")
@click.option("--password", envvar="LOGISENSE_PASSWORD", show_envvar=True,
              help="Password (prefer the environment variable: command lines are visible to others).")
@click.option("--client-id", envvar="LOGISENSE_CLIENT_ID", show_envvar=True, help="OAuth client id (required).")
@click.option("--client-secret", envvar="LOGISENSE_CLIENT_SECRET", show_envvar=True,
              help="Client secret: the password grant with client_id/client_secret (the docs' Option 2) when no username/password is given.")
@click.option("--trigger", multiple=True, type=int, metavar="DATAEXPORT_ID",
              help="Trigger this DataExport now and stream its file (repeatable).")
@click.option("--history-id", multiple=True, type=int,
              help="Stream this existing DataExportHistory row (repeatable; waits if still running).")
@click.option("--latest-of", "latest_of", multiple=True, type=int,
              help="Stream the newest completed history row of this DataExport (repeatable).")
@click.option("--trigger-body", callback=_json_object, metavar="JSON",
              help='Body of DataExport/Trigger (undocumented upstream); default {"dataExportId": N}.')
@click.option("--export-timeout", default=3600.0, show_default=True, help="Seconds an export may take, counted from its creation, before the run fails.")
@click.option("--status-name", multiple=True, callback=_status_names, metavar="NAME=STATE",
              help="Teach a DataExportHistory status name (unconfirmed upstream): STATE is one of "
              f"{', '.join(STATES)} (repeatable; e.g. --status-name Exported=done).")
@click.option("--poll-interval", default=2.0, show_default=True, help="Seconds between the first polls (then growing).")
@click.option("--no-cancel", is_flag=True, help="Leave triggered exports running when the run is aborted.")
@click.option("--no-row-count-check", is_flag=True, help="Do not compare rows streamed with exportRowCount.")
@click.option("--url-ttl", default=30.0, show_default=True, help="Seconds a Download link stays valid.")
@click.option("--delimiter", default=",", show_default=True, help="CSV field delimiter.")
@click.option("--encoding", default="utf-8", show_default=True, help="CSV text encoding (ASCII-compatible).")
@click.option("--incremental", is_flag=True, expose_value=False, callback=refuse_incremental, is_eager=True,
              help="Refused: LogiSense's DataExport has no documented change filter.")
@export_options
@click.pass_context
def command(
    ctx: click.Context,
    base_url: str | None,
    tenant: str | None,
    auth_url: str | None,
    username: str | None,
    password: str | None,
    client_id: str | None,
    client_secret: str | None,
    trigger: tuple[int, ...],
    history_id: tuple[int, ...],
    latest_of: tuple[int, ...],
    trigger_body: dict[str, Any] | None,
    export_timeout: float,
    status_name: dict[str, str],
    poll_interval: float,
    no_cancel: bool,
    no_row_count_check: bool,
    url_ttl: float,
    delimiter: str,
    encoding: str,
    **options: Any,
) -> None:
    """Stream LogiSense DataExport CSV files, one JSON object per row.

    Each CSV row becomes an object keyed by the header.  The 30-second S3
    links are re-fetched from History/{id}/Download whenever one expires or
    a connection drops, and the download resumes where it stopped.  The
    rows streamed are checked against the export's exportRowCount.

    \b
    Examples:
      export LOGISENSE_BASE_URL=https://acme.logisensebilling.com/ResourceServer/api/v10/
      export LOGISENSE_USERNAME=api-user LOGISENSE_PASSWORD=... LOGISENSE_CLIENT_ID=...
      streamer logisense --trigger 19 > invoices.jsonl            # trigger DataExport 19
      streamer logisense --history-id 1501 --history-id 1502 | jq .accountId
      streamer logisense --latest-of 19 --format singer | target-postgres
      streamer logisense --trigger 19 --trigger-body '{"dataExportId": 19, "parameters": "2024-01"}'
    """
    quiet = ctx.obj["quiet"] if ctx.obj else False
    missing = [
        f"{flag} (or ${env})"
        for value, flag, env in (
            (base_url or tenant, "--base-url", "LOGISENSE_BASE_URL"),
            (client_id, "--client-id", "LOGISENSE_CLIENT_ID"),
        )
        if not value
    ]
    if not (username and password) and not client_secret:
        missing.append("--username and --password (or $LOGISENSE_USERNAME/$LOGISENSE_PASSWORD), or --client-secret")
    if not (trigger or history_id or latest_of):
        missing.append("--trigger, --history-id or --latest-of")
    if missing:
        raise click.UsageError(f"missing {', '.join(missing)}")

    def announce(export_id: int, history_id: int) -> None:
        if not quiet:
            click.echo(
                f"streamer: triggered LogiSense DataExport {export_id} as DataExportHistory {history_id} "
                f"(reuse: --history-id {history_id})",
                err=True,
            )

    plan = plan_from_options(options, quiet=quiet)
    config = plan.config
    try:
        source = LogisenseSource(
            base_url=base_url,
            tenant=tenant,
            auth_url=auth_url,
            username=username,
            password=password,
            client_id=client_id,
            client_secret=client_secret,
            export_ids=trigger,
            history_ids=history_id,
            latest_of=latest_of,
            trigger_body=trigger_body,
            timeout=export_timeout,
            status_names=status_name,
            poll_interval=poll_interval,
            cancel_on_abort=not no_cancel,
            check_row_count=not no_row_count_check,
            url_ttl=url_ttl,
            csv_options={"delimiter": delimiter, "encoding": encoding},
            retry=RetryPolicy(max_attempts=config.retry.max_attempts),
            on_triggered=announce,
        )
    except (ConfigError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
    execute(plan, source, quiet=quiet)
