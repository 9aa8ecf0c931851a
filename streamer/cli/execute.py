"""Run one export from the command line: build the run, map its outcome to an exit code.

A command parses its options, builds a :class:`~streamer.assembly.RunPlan`
with :func:`plan_from_options` (sink, engine config, ``--state``, SIGTERM,
progress), builds its source, and calls :func:`execute`.  Everything about
the run itself — resuming, signals, state — is the plan's business.

Exit codes: 0 success; 1 the export failed (one line on stderr says why;
an unexpected internal error adds "run with -vv for the traceback"); 2 a
usage error; 130 interrupted (Ctrl-C); 143 terminated (SIGTERM: the current
batch is finished and every connection closed); 141 stdout closed early
(``| head``), silently.

The CLI process, unlike the library, tunes the garbage collector: after
start-up it freezes the objects it has and raises the gen-0 threshold, since
a streaming run allocates millions of short-lived dicts that reference
counting already frees.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from streamer.assembly import RunPlan, RunStats
    from streamer.providers.base import Source

log = logging.getLogger("streamer.cli")

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 141
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


def tune_gc() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


class BadUsage(click.UsageError):
    """A bad or conflicting option: one line on stderr, exit 2 (like any click usage error)."""

    def show(self, file: Any = None) -> None:
        click.echo(f"streamer: error: {self.format_message()}", err=True)


def plan_from_options(options: Mapping[str, Any], *, quiet: bool) -> RunPlan:
    """The run a command's engine and output options describe.

    Resumes from ``--state FILE`` when given, else from the checkpoints a
    database or ``dir`` sink commits with its data.
    """
    from streamer.assembly import RunPlan
    from streamer.cli.options import build_config, build_sink

    from streamer.sinks.registry import ensure_writable

    check_output_conflicts(options)
    for option, name, regular in (
        ("output", "-o/--output", False),  # /dev/null and /dev/stdout are fine outputs
        ("dead_letter", "--dead-letter", True),
        ("state", "--state", True),
    ):
        if options.get(option) is not None:
            ensure_writable(options[option], name, regular_file=regular)  # before anything is requested or downloaded
    config = build_config(**options)
    return RunPlan(
        build_sink(**options),
        config=config,
        state=options.get("state"),
        resume="auto",
        stop_on=(signal.SIGTERM,),
        display=_progress_bar if shows_progress(quiet=quiet) else None,
    )


def shows_progress(*, quiet: bool) -> bool:
    """Whether a run draws progress bars: on a terminal's stderr, unless ``--quiet``."""
    return not quiet and sys.stderr.isatty()


def check_output_conflicts(options: Mapping[str, Any]) -> None:
    """Refuse option pairs of which one would be silently ignored."""
    ctx = click.get_current_context(silent=True)

    def given(name: str) -> bool:
        if ctx is None:
            return False
        source = ctx.get_parameter_source(name)
        return source is not None and source is not click.core.ParameterSource.DEFAULT

    if options.get("sink"):
        if given("format"):
            raise BadUsage(
                f"--sink and --format both say how records are written: the sink URL decides "
                f"(use --sink singer:- instead of --format {options.get('format')})"
            )
        if options.get("output") is not None:
            raise BadUsage("--sink and -o/--output both say where records go: use one")
    if options.get("with_metadata"):
        writes_jsonl = options.get("sink") in (None, "-") or str(options.get("sink")).startswith("jsonl:")
        if not writes_jsonl or options.get("format") == "singer":
            raise BadUsage("--with-metadata adds a _streamer object to JSONL lines only: drop it, or write JSONL")
    if options.get("dead_letter") is not None and options.get("bad_lines") != "skip":
        raise BadUsage("--dead-letter only receives skipped lines: add --bad-lines skip")


def _progress_bar(stats: RunStats) -> Any:
    from streamer.cli.progress import progress_bar

    return progress_bar(stats, enabled=True)


def execute(
    plan: RunPlan,
    source: Source,
    *,
    quiet: bool = False,
    after: Callable[[RunStats], None] | None = None,
) -> RunStats:
    """Run ``source`` through ``plan``; print the summary and call ``after(stats)`` when it succeeded.

    A failure propagates to the command group, which turns it into one line
    and an exit code (:func:`fail`).
    """
    from streamer.cli.check import checking, run_check

    if checking():  # `streamer check …`: the same source, checked instead of run
        from streamer.assembly import RunStats

        run_check(source, plan.config.http)
        return RunStats()
    from streamer.cli.dask_options import cluster_requested, execute_on_cluster

    if cluster_requested():  # --workers / --scheduler: the parts run on a Dask cluster
        return execute_on_cluster(plan, source, quiet=quiet, after=after)
    tune_gc()
    stats = plan.run_sync(source)
    if stats.stopped_by is not None:
        click.echo(f"streamer: terminated by {stats.stopped_by}; connections closed", err=True)
        sys.exit(EXIT_TERMINATED)
    if not quiet:
        click.echo(f"streamer: {stats.summary()}", err=True)
    if after is not None:
        after(stats)
    return stats


def fail(exc: BaseException) -> NoReturn:
    """Exit with one line on stderr (none for a closed stdout) and the documented code."""
    while isinstance(exc, BaseExceptionGroup):  # a task group's: its first real error speaks for it
        exc = next((e for e in exc.exceptions if not _is_cancellation(e)), exc.exceptions[0])
    if isinstance(exc, BrokenPipeError):
        _silence_stdout()
        sys.exit(EXIT_BROKEN_PIPE)
    if isinstance(exc, KeyboardInterrupt):
        click.echo("streamer: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    from streamer.errors import StreamerError

    if not isinstance(exc, StreamerError) and log.isEnabledFor(logging.DEBUG):
        # an expected failure says all in its line; an unexpected one offers its traceback at -vv,
        # above the line, so that the line stays the last thing on the screen
        log.debug("traceback of the failure below", exc_info=exc)
    click.echo(f"streamer: {describe_failure(exc)}", err=True)
    sys.exit(EXIT_FAILED)


def describe_failure(exc: BaseException) -> str:
    """One line (redacted) for any exception that ended a command."""
    from streamer.errors import StreamerError, describe_exception
    from streamer.http.redact import redact_text

    if isinstance(exc, StreamerError):
        text = f"error: {exc}"
    elif isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        text = f"error: {exc.strerror}{where}"
    else:
        text = f"internal error: {describe_exception(exc)} (run with -vv for the traceback)"
    return " ".join(line.strip() for line in redact_text(text).splitlines() if line.strip())


def _is_cancellation(exc: BaseException) -> bool:
    import asyncio  # the only backend the CLI runs on (aiohttp needs it)

    return isinstance(exc, asyncio.CancelledError)


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
