"""``streamer``: the command group; each sub-command lives in its own module.

Every option can also come from an environment variable
``STREAMER_<COMMAND>_<OPTION>`` (click's ``auto_envvar_prefix``); vendor
credentials also read the vendor's own variables (``MEWS_ACCESS_TOKEN``, …).
"""

from __future__ import annotations

import importlib
import logging

import click

from streamer._version import __version__
from streamer.cli.config import load_config
from streamer.logs import configure_logging

COMMAND_MODULES = ("urls", "simulate", "demo", "mews", "logisense", "rebilly", "check")
"""Modules of :mod:`streamer.cli` that each define a click ``command``."""


@click.group(context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "STREAMER"})
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
    Exit codes: 0 done; 1 the export failed (the reason is on stderr);
    130 interrupted (Ctrl-C); 141 stdout closed early (| head);
    143 terminated by SIGTERM (after closing every connection).
    """
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    configure_logging(level, log_format)
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet


for _name in COMMAND_MODULES:
    cli.add_command(importlib.import_module(f"streamer.cli.{_name}").command)


def main() -> None:
    cli(prog_name="streamer")


if __name__ == "__main__":
    main()
