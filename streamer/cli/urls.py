"""``streamer urls URL...``: stream plain JSONL/CSV URLs to stdout."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from streamer.cli.execute import BadUsage, execute, plan_from_options
from streamer.cli.options import engine_options, output_options

if TYPE_CHECKING:
    from streamer.records import Compression

SCHEMES = ("http", "https")


@click.command("urls")
@click.argument("urls", nargs=-1, required=True)
@click.option(
    "--input-format",
    type=click.Choice(["jsonl", "csv", "json"]),
    default="jsonl",
    show_default=True,
    help="Format of the files.",
)
@click.option(
    "--compression",
    type=click.Choice(["auto", "gzip", "none"]),
    default="auto",
    show_default=True,
    help="auto: gunzip .gz URLs and bodies that start with the gzip magic.",
)
@click.option("--entity-type", help="Entity type to label the records with (Singer stream name).")
@engine_options
@output_options
@click.pass_context
def command(
    ctx: click.Context,
    urls: tuple[str, ...],
    input_format: str,
    compression: Compression,  # a click.Choice of exactly these
    entity_type: str | None,
    **options: Any,
) -> None:
    """Stream every record of URLS, one JSON object per line (each line as read).

    \b
    Examples:
      streamer urls https://example.com/export-1.jsonl https://example.com/export-2.jsonl.gz
      streamer urls --bad-lines skip --dead-letter bad.jsonl URL | jq -c 'select(.State == "Closed")'
      streamer urls --ordered --concurrency 8 URL1 URL2 URL3 > all.jsonl
    """
    from streamer.providers.urls import UrlSource

    for url in urls:
        _check_url(url)
    plan = plan_from_options(options, quiet=ctx.obj["quiet"])
    source = UrlSource(urls, format=input_format, compression=compression, entity_type=entity_type)
    execute(plan, source, quiet=ctx.obj["quiet"])


def _check_url(url: str) -> None:
    """An address the source can fetch, or a one-line usage error naming it."""
    from urllib.parse import urlsplit

    from streamer.http.redact import redact_url

    scheme = urlsplit(url).scheme.lower()
    if scheme not in SCHEMES:
        reason = f"has no scheme (try https://{url})" if not scheme else f"has scheme {scheme!r}: only http and https are fetched"
        raise BadUsage(f"URL {redact_url(url)} {reason}")
