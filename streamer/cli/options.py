"""Options shared by every export command: engine tuning and output format.

One name per idea across commands: ``--entity`` (an entity type),
``--export-id`` (an export that already exists, to stream again),
``--export-timeout`` (how long an export may take on the vendor's side).
Old spellings stay accepted, hidden from ``--help``, with a one-line
deprecation warning (:class:`RenamedOptionsCommand`).
"""

from __future__ import annotations

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
        "output_format",
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


class RenamedOptionsCommand(click.Command):
    """A command that still accepts renamed options under their old spelling.

    ``renamed`` maps an old spelling to the new one (``{"--deadline":
    "--export-timeout"}``); an old spelling on the command line is rewritten
    before parsing, with ``--old is deprecated; use --new`` on stderr.  The
    old names are not options of their own, so ``--help`` and completion show
    only the new ones.
    """

    def __init__(self, *args: Any, renamed: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.renamed = dict(renamed or {})

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, rewrite_renamed(args, self.renamed))


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
    *, output_format: str, output: Path | None, with_metadata: bool, sink: str | None = None, **_: Any
) -> Sink:
    if sink:
        from streamer.sinks.registry import sink_from_url

        return sink_from_url(sink, with_metadata=with_metadata)  # a ConfigError: one line, exit 1
    if output_format == "singer":
        if output is not None:
            return SingerSink(open(output, "ab"))  # noqa: SIM115 - closed at exit
        return SingerSink()
    return JsonlSink(output, with_metadata=with_metadata)
