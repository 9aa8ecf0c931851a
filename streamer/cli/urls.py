"""``streamer urls URL...``: stream plain JSONL/CSV/JSON URLs (or local files) to stdout."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from streamer.cli.execute import BadUsage, execute, plan_from_options, shows_progress
from streamer.cli.options import RenamedOptionsCommand, export_options

if TYPE_CHECKING:
    from streamer.records import Compression

SCHEMES = ("http", "https", "file")


def _schema(ref: str | None) -> str | None:
    from streamer.schemas.registry import resolve

    try:
        return resolve(ref).ref if ref else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--schema") from None


@click.command("urls", cls=RenamedOptionsCommand, renamed={"--entity-type": "--entity"},
               old_env={"entity_type": "entity"})
@click.argument("urls", nargs=-1, required=True)
@click.option(
    "--input-format",
    type=click.Choice(["auto", "jsonl", "csv", "json"]),
    default="auto",
    show_default=True,
    help="auto: from each URL's path (.csv, .json, .jsonl/.ndjson, also with .gz); jsonl otherwise.",
)
@click.option(
    "--compression",
    type=click.Choice(["auto", "gzip", "none"]),
    default="auto",
    show_default=True,
    help="auto: gunzip .gz URLs and bodies that start with the gzip magic.",
)
@click.option("--entity", help="Entity type to label the records with (Singer stream name).")
@click.option("--schema", "schema", metavar="VENDOR:ENTITY", callback=lambda _c, _p, v: _schema(v),
              help="Type the records with a vendor schema, e.g. mews:OrderItem (default: inferred). See docs/schemas.md.")
@click.option(
    "--size-probe-timeout",
    default=2.0,
    show_default=True,
    metavar="SECONDS",
    help="While a progress bar is shown, ask every URL its size first (one 1-byte GET each) so the bar has "
    "its total from the start; never longer than this; 0: don't ask.",
)
@export_options
@click.pass_context
def command(
    ctx: click.Context,
    urls: tuple[str, ...],
    input_format: str,
    compression: Compression,  # a click.Choice of exactly these
    entity: str | None,
    schema: str | None,
    size_probe_timeout: float,
    **options: Any,
) -> None:
    """Stream every record of URLS, one JSON object per line (each line as read).

    \b
    Examples:
      streamer urls https://example.com/export-1.jsonl https://example.com/export-2.jsonl.gz
      streamer urls --bad-lines skip --dead-letter bad.jsonl URL | jq -c 'select(.State == "Closed")'
      streamer urls --ordered --concurrency 8 URL1 URL2 URL3 > all.jsonl
    """
    from streamer.cli.check import checking
    from streamer.providers.urls import UrlSource

    for url in urls:
        _check_url(url)
    quiet = ctx.obj["quiet"]
    plan = plan_from_options(options, quiet=quiet)
    probe = size_probe_timeout if shows_progress(quiet=quiet) and not checking(ctx) else 0.0  # a check asks itself
    source = UrlSource(
        urls, format=input_format, compression=compression, entity_type=entity, schema=schema,
        size_probe_timeout=probe
    )
    execute(plan, source, quiet=quiet)


def _check_url(url: str) -> None:
    """An address the source can fetch (http, https, a file), or a one-line usage error naming it."""
    from pathlib import Path
    from urllib.parse import urlsplit

    from streamer.files import LOCAL_HOSTS
    from streamer.redaction import redact_broken_url, redact_url

    if "://" not in url:  # a local path, as UrlSource reads it
        if not Path(url).expanduser().is_file():
            raise BadUsage(f"{redact_url(url)} has no scheme and is not a file (try https://{redact_url(url)})")
        return
    try:
        parts = urlsplit(url)
        port = parts.port  # parsed lazily: "Port out of range 0-65535" comes from here
    except ValueError as exc:
        raise BadUsage(f"URL {redact_broken_url(url)} is not a valid address: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise BadUsage(f"URL {redact_url(url)} has scheme {scheme!r}: only http, https and file are read")
    if scheme == "file":
        if parts.netloc.lower() not in LOCAL_HOSTS:
            raise BadUsage(f"URL {redact_url(url)} names host {parts.netloc!r}: only local files (file:///path) are read")
        return
    if not parts.hostname:
        raise BadUsage(f"URL {redact_broken_url(url)} names no host")
    if port == 0:
        raise BadUsage(f"URL {redact_broken_url(url)} names port 0")
