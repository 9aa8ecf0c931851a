"""``streamer urls URL...``: stream plain JSONL/CSV URLs to stdout."""

from __future__ import annotations

from typing import Any

import click

from streamer.cli.execute import execute
from streamer.cli.options import build_config, build_sink, engine_options, output_options
from streamer.providers.urls import UrlSource
from streamer.schemas.registry import resolve


def _schema(ref: str | None) -> str | None:
    try:
        return resolve(ref).ref if ref else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--schema") from None


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
@click.option("--schema", "schema", metavar="VENDOR:ENTITY", callback=lambda _c, _p, v: _schema(v),
              help="Type the records with a vendor schema, e.g. mews:OrderItem (default: inferred). See docs/schemas.md.")
@engine_options
@output_options
@click.pass_context
def command(
    ctx: click.Context, urls: tuple[str, ...], input_format: str, compression: str, entity_type: str | None,
    schema: str | None, **options: Any
) -> None:
    """Stream every record of URLS, one JSON object per line (each line as read).

    \b
    Examples:
      streamer urls https://example.com/export-1.jsonl https://example.com/export-2.jsonl.gz
      streamer urls --bad-lines skip --dead-letter bad.jsonl URL | jq -c 'select(.State == "Closed")'
      streamer urls --ordered --concurrency 8 URL1 URL2 URL3 > all.jsonl
    """
    source = UrlSource(urls, format=input_format, compression=compression, entity_type=entity_type,  # type: ignore[arg-type]
                       schema=schema)
    execute(source, build_sink(**options), build_config(**options), quiet=ctx.obj["quiet"])
