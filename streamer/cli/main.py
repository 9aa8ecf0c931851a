"""``streamer``: the command group; each sub-command lives in its own module.

Every option can also come from an environment variable
``STREAMER_<COMMAND>_<OPTION>`` (click's ``auto_envvar_prefix``); vendor
credentials also read the vendor's own variables (``MEWS_ACCESS_TOKEN``, …).
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from streamer._version import __version__

COMMAND_MODULES = ("urls", "simulate", "demo")
"""Modules of :mod:`streamer.cli` that each define a click ``command``."""


@click.group(context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "STREAMER"})
@click.version_option(__version__, prog_name="streamer")
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr; no progress bar.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Stream SaaS data exports record by record.

    \b
    Examples:
      streamer demo | wc -l                    # end to end against a local simulator
      streamer urls https://host/part-1.jsonl https://host/part-2.jsonl.gz | jq .Id
      streamer simulate --port 8080            # serve exports on 127.0.0.1
    """
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, stream=sys.stderr, format="streamer: %(levelname)s %(message)s")
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet


for _name in COMMAND_MODULES:
    cli.add_command(importlib.import_module(f"streamer.cli.{_name}").command)


def main() -> None:
    cli(prog_name="streamer")


if __name__ == "__main__":
    main()
