"""Options shared by every export command: engine tuning and output format.

One name per idea across commands: ``--entity`` (an entity type),
``--export-id`` (an export that already exists, to stream again),
``--export-timeout`` (how long an export may take on the vendor's side).
Old spellings stay accepted, hidden from ``--help``, with a one-line
deprecation warning (:class:`RenamedOptionsCommand`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from streamer.assembly import StreamConfig
from streamer.http.retry import RetryPolicy
from streamer.http.session import HTTPConfig
from streamer.sinks.base import Sink
from streamer.sinks.jsonl import JsonlSink
from streamer.sinks.singer import SingerSink

F = Callable[..., Any]

_ENGINE_OPTIONS = [
    click.option("--concurrency", default=4, show_default=True, help="Parts downloaded at once."),
    click.option("--ordered", is_flag=True, help="Keep parts in order (part 1 fully before part 2)."),
    click.option("--batch-size", default=1000, show_default=True, help="Records per batch."),
    click.option(
        "--bad-lines",
        type=click.Choice(["fail", "skip"]),
        default="fail",
        show_default=True,
        help="Stop at the first undecodable line, or skip and count it.",
    ),
    click.option(
        "--dead-letter",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Append skipped lines (with part, line, offset, error) to this JSONL file.",
    ),
    click.option("--max-line-bytes", default=16 << 20, show_default=True, help="Longest accepted line."),
    click.option("--retries", default=8, show_default=True, help="Attempts without progress before giving up."),
    click.option(
        "--connect-timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=30.0,
        show_default=True,
        help="Seconds to connect.",
    ),
    click.option(
        "--read-timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=120.0,
        show_default=True,
        help="Seconds without data before retrying.",
    ),
    click.option(
        "--min-rate",
        metavar="BYTES/S",
        type=click.IntRange(min=0),
        default=StreamConfig.min_rate_bytes,
        show_default=True,
        help="A response averaging fewer bytes per second over --min-rate-window is a stall: "
        "abandoned and resumed with Range (0 = off).",
    ),
    click.option(
        "--min-rate-window",
        metavar="SECONDS",
        type=click.FloatRange(min=0),
        default=StreamConfig.min_rate_window,
        show_default=True,
        help="Seconds over which --min-rate is measured (0 = off).",
    ),
    click.option("--insecure", is_flag=True, help="Do not verify TLS certificates (never in production)."),
    click.option(
        "--state",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Save progress to this JSON file (0600) and resume from it when rerun "
        "(with -o FILE: exactly-once output; see docs/guarantees.md).",
    ),
]

_OUTPUT_OPTIONS = [
    click.option(
        "--format",
        type=click.Choice(["jsonl", "singer"]),
        default="jsonl",
        show_default=True,
        help="jsonl: one record per line; singer: SCHEMA/RECORD/STATE messages.",
    ),
    click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Write to this file instead of stdout (appends).",
    ),
    click.option("--with-metadata", is_flag=True, help="Add a _streamer object (part, line, offset) to each line."),
    click.option(
        "--sink",
        metavar="URL",
        help="Where records go, instead of --format/-o: sqlite:///out.db, duckdb:///out.duckdb, "
        "postgresql://user@host:5432/db, dir:///path?gzip=1&rotate_mb=100, jsonl:///out.jsonl, "
        "singer:-, or - (stdout). Database and dir sinks commit checkpoints with the data and "
        "resume from them (exactly-once).",
    ),
]


SHARED_OLD_ENV = {"output_format": "format"}
"""Old parameter names of the shared options (``STREAMER_URLS_OUTPUT_FORMAT`` → ``…_FORMAT``)."""


class RenamedOptionsCommand(click.Command):
    """A command that still accepts renamed options under their old spelling.

    ``renamed`` maps an old spelling to the new one (``{"--deadline":
    "--export-timeout"}``); an old spelling on the command line is rewritten
    before parsing, with ``--old is deprecated; use --new`` on stderr.  The
    old names are not options of their own, so ``--help`` and completion show
    only the new ones.

    ``old_env`` does the same for environment variables: each option's
    parameter is named after the option, so its variable is
    ``STREAMER_<COMMAND>_<OPTION>``; ``{"deadline": "export_timeout"}`` keeps
    the variable of the old parameter name working (``STREAMER_MEWS_DEADLINE``)
    with a one-line warning, ranked as an environment variable (the new
    variable and the command line win over it; it wins over a config file).
    """

    def __init__(
        self,
        *args: Any,
        renamed: Mapping[str, str] | None = None,
        old_env: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.renamed = dict(renamed or {})
        self.old_env = {old: new for old, new in SHARED_OLD_ENV.items() if any(p.name == new for p in self.params)}
        self.old_env.update(old_env or {})

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        apply_old_env(ctx, self.params, self.old_env)
        return super().parse_args(ctx, rewrite_renamed(args, self.renamed))


def apply_old_env(ctx: click.Context, params: Sequence[click.Parameter], old_env: Mapping[str, str]) -> None:
    """Values of deprecated environment variables, as ``ctx.default_map`` entries (with a warning each)."""
    prefix = ctx.auto_envvar_prefix
    if not old_env or prefix is None:
        return
    by_name = {param.name: param for param in params if isinstance(param, click.Option)}
    for old, new in old_env.items():
        raw = os.environ.get(f"{prefix}_{old.upper()}")
        param = by_name[new]
        if not raw or os.environ.get(f"{prefix}_{new.upper()}"):
            continue
        click.echo(f"streamer: warning: ${prefix}_{old.upper()} is deprecated; use ${prefix}_{new.upper()}", err=True)
        value: Any = param.type.split_envvar_value(raw) if param.multiple or param.nargs != 1 else raw
        ctx.default_map = {**(ctx.default_map or {}), new: value}


def rewrite_renamed(args: Sequence[str], renamed: Mapping[str, str]) -> list[str]:
    """``args`` with old option spellings replaced by new ones (up to ``--``), warning once per spelling."""
    out: list[str] = []
    warned: set[str] = set()
    for index, arg in enumerate(args):
        if arg == "--":
            return out + list(args[index:])
        name, eq, value = arg.partition("=")
        new = renamed.get(name)
        if new is None:
            out.append(arg)
            continue
        if name not in warned:
            warned.add(name)
            click.echo(f"streamer: warning: {name} is deprecated; use {new}", err=True)
        out.append(new + eq + value)
    return out


def _apply(options: list[Callable[[F], F]], func: F) -> F:
    for option in reversed(options):
        func = option(func)
    return func


def engine_options(func: F) -> F:
    return _apply(_ENGINE_OPTIONS, func)


def output_options(func: F) -> F:
    return _apply(_OUTPUT_OPTIONS, func)


def export_options(func: F) -> F:
    """Every export command's shared options: the engine's, the output's, and the Dask cluster's."""
    from streamer.cli.dask_options import dask_options

    return engine_options(output_options(dask_options(func)))


def build_config(
    *,
    concurrency: int,
    ordered: bool,
    batch_size: int,
    bad_lines: str,
    dead_letter: Path | None,
    max_line_bytes: int,
    retries: int,
    connect_timeout: float,
    read_timeout: float,
    insecure: bool,
    min_rate: int = StreamConfig.min_rate_bytes,
    min_rate_window: float = StreamConfig.min_rate_window,
    **_: Any,
) -> StreamConfig:
    off = not min_rate or not min_rate_window  # either 0 turns the floor off
    try:
        return StreamConfig(
            concurrency=concurrency,
            ordered=ordered,
            batch_size=batch_size,
            bad_lines=bad_lines,  # type: ignore[arg-type]
            dead_letter=dead_letter,
            max_line_bytes=max_line_bytes,
            min_rate_bytes=0 if off else min_rate,
            min_rate_window=StreamConfig.min_rate_window if off else min_rate_window,
            retry=RetryPolicy(max_attempts=retries),
            http=HTTPConfig(connect_timeout=connect_timeout, read_timeout=read_timeout, verify_tls=not insecure),
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def build_sink(
    *, format: str, output: Path | None, with_metadata: bool, sink: str | None = None, **_: Any
) -> Sink:
    if sink:
        from streamer.sinks.registry import sink_from_url

        return sink_from_url(sink, with_metadata=with_metadata)  # a ConfigError: one line, exit 1
    if format == "singer":
        if output is not None:
            return SingerSink(open(output, "ab"))  # noqa: SIM115 - closed at exit
        return SingerSink()
    return JsonlSink(output, with_metadata=with_metadata)
