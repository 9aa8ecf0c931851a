"""``streamer``: the command group; each sub-command lives in its own module.

Every option can also come from an environment variable
``STREAMER_<COMMAND>_<OPTION>`` (click's ``auto_envvar_prefix``); vendor
credentials also read the vendor's own variables (``MEWS_ACCESS_TOKEN``, …).

Sub-commands are imported when they run (:class:`~streamer.cli.lazy.LazyGroup`):
``streamer --help`` loads neither aiohttp nor a provider, sink or the simulator.
"""

from __future__ import annotations

import logging
import os

import click

from streamer._version import __version__
from streamer.cli.config import load_config
from streamer.cli.lazy import LazyGroup
from streamer.logs import configure_logging

COMMANDS = {
    "urls": "Stream every record of URLS, one JSON object per line (each line as read).",
    "simulate": "Run the export simulator in the foreground; print its base URL on stdout.",
    "demo": "Stream simulated exports to stdout (try: streamer demo | wc -l).",
    "mews": "Export Mews entities and stream every record to stdout, one JSON object per line.",
    "logisense": "Stream LogiSense DataExport CSV files, one JSON object per row.",
    "rebilly": "Request a Rebilly data export, wait for it, and stream every record as one JSON object per line.",
    "check": "Verify credentials and list what would be exported; download and create nothing.",
}
"""Sub-command (a module of :mod:`streamer.cli` defining ``command``) → its short help,
shown by ``streamer --help`` without importing it (a test keeps the two in step)."""

COMMAND_MODULES = tuple(COMMANDS)


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "STREAMER"},
)
@click.version_option(__version__, prog_name="streamer")
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr; no progress bar.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON object per log line on stderr (for log collectors).",
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    envvar="STREAMER_CONFIG",
    is_eager=True,
    expose_value=False,
    callback=load_config,
    help="TOML file of option defaults: top-level keys for these options, [defaults] for every "
    "command, [urls], [mews], ... per command. Env: STREAMER_CONFIG.",
)
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool, log_format: str) -> None:
    """Stream SaaS data exports record by record.

    \b
    Examples:
      streamer demo | wc -l                    # end to end against a local simulator
      streamer urls https://host/part-1.jsonl https://host/part-2.jsonl.gz | jq .Id
      streamer simulate --port 8080            # serve exports on 127.0.0.1
      streamer urls URL --sink sqlite:///out.db    # into SQLite; rerun resumes (exactly-once)
      streamer --config streamer.toml urls URL     # option defaults from a TOML file

    \b
    Every option can also be set by an environment variable:
    STREAMER_<OPTION> for the options above (STREAMER_QUIET=1) and
    STREAMER_<COMMAND>_<OPTION> for a command's (STREAMER_URLS_CONCURRENCY=8,
    STREAMER_URLS_SINK=sqlite:///out.db).  Precedence: command line,
    environment, --config file, built-in default.

    \b
    Exit codes: 0 done; 1 the export failed (one line on stderr says why;
    an unexpected internal error adds "run with -vv for the traceback");
    2 usage error (a bad or conflicting option); 130 interrupted (Ctrl-C);
    141 stdout closed early (| head); 143 terminated by SIGTERM (after the
    current batch, with every connection closed).
    """
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    configure_logging(level, log_format)
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet


def main() -> None:
    # The CLI owns its process, so it picks Arrow's allocator (read when pyarrow is first imported,
    # by a typed sink): the system one returns freed row groups and batches to the OS, where the
    # bundled mimalloc keeps them, ~10-15 MB of peak RSS measured (docs/typed-tables.md). A value
    # already set wins; the library leaves the choice to its host program.
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    cli(prog_name="streamer")


if __name__ == "__main__":
    main()
