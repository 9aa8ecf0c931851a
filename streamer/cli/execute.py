"""Run one export from the command line: exit codes, signals, pipes, progress.

Exit codes: 0 success; 1 the export failed (one line on stderr says why);
130 interrupted (Ctrl-C); 143 terminated (SIGTERM, after closing every
connection); 141 stdout closed early (``| head``), silently.

The CLI process, unlike the library, tunes the garbage collector: after
start-up it freezes the objects it has and raises the gen-0 threshold, since
a streaming run allocates millions of short-lived dicts that reference
counting already frees.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping

import click

from streamer.engine.config import StreamConfig
from streamer.engine.runner import run_export
from streamer.engine.stats import RunStats
from streamer.errors import StreamerError
from streamer.http.redact import redact_text
from streamer.providers.base import Source
from streamer.records import Checkpoint
from streamer.sinks.base import Sink
from streamer.state import JsonFileStateStore, StateStore, tracked_run

log = logging.getLogger("streamer.cli")

EXIT_FAILED = 1
EXIT_BROKEN_PIPE = 141
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


def tune_gc() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def execute(
    source: Source,
    sink: Sink,
    config: StreamConfig,
    *,
    quiet: bool = False,
    checkpoints: Mapping[str, Checkpoint] | None = None,
    on_checkpoint: Callable[[Checkpoint], Awaitable[None] | None] | None = None,
    after: Callable[[RunStats], None] | None = None,
    state: StateStore | None = None,
) -> RunStats:
    """Run the export and exit the process with the right code on failure.

    ``state`` (default: the command's ``--state FILE``, if any) resumes from
    and records acknowledged progress.
    """
    from streamer.cli.dask_options import cluster_requested, execute_on_cluster

    if cluster_requested():  # --workers / --scheduler: the parts run on a Dask cluster
        return execute_on_cluster(source, config, quiet=quiet, after=after)
    tune_gc()
    stats = RunStats()
    if state is None:
        state = _state_option()
    if state is not None and checkpoints is not None:
        raise click.UsageError("pass either a state store or checkpoints, not both")
    if state is None and checkpoints is None and hasattr(sink, "load_checkpoints"):
        checkpoints = {}  # a sink that commits checkpoints with its data resumes from them
    try:
        asyncio.run(_main(source, sink, config, stats, quiet, checkpoints, on_checkpoint, state))
    except BrokenPipeError:
        _silence_stdout()
        sys.exit(EXIT_BROKEN_PIPE)
    except KeyboardInterrupt:
        click.echo("streamer: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except _Terminated:
        click.echo("streamer: terminated by SIGTERM; connections closed", err=True)
        sys.exit(EXIT_TERMINATED)
    except StreamerError as exc:
        click.echo(f"streamer: error: {redact_text(str(exc))}", err=True)
        sys.exit(EXIT_FAILED)
    if not quiet:
        click.echo(f"streamer: {stats.summary()}", err=True)
    if after is not None:
        after(stats)
    return stats


class _Terminated(Exception):
    pass


async def _main(
    source: Source,
    sink: Sink,
    config: StreamConfig,
    stats: RunStats,
    quiet: bool,
    checkpoints: Mapping[str, Checkpoint] | None,
    on_checkpoint: Callable[[Checkpoint], Awaitable[None] | None] | None,
    state: StateStore | None = None,
) -> None:
    from streamer.cli.progress import progress_bar

    task = asyncio.current_task()
    assert task is not None
    terminated = False

    def on_sigterm() -> None:
        nonlocal terminated
        terminated = True
        task.cancel()

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    try:
        async with progress_bar(stats, enabled=not quiet and sys.stderr.isatty()):
            if state is None:
                await run_export(
                    source, sink, config=config, stats=stats, checkpoints=checkpoints, on_checkpoint=on_checkpoint
                )
            else:
                async with tracked_run(state, sink, resume=True, on_checkpoint=on_checkpoint) as hooks:
                    await run_export(
                        source,
                        sink,
                        config=config,
                        stats=stats,
                        checkpoints=hooks.checkpoints,
                        on_checkpoint=hooks.on_checkpoint,
                    )
    except asyncio.CancelledError:
        if terminated:
            raise _Terminated() from None
        raise
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def _state_option() -> StateStore | None:
    """The store named by the running command's ``--state`` option (from ``engine_options``)."""
    ctx = click.get_current_context(silent=True)
    path = ctx.params.get("state") if ctx is not None else None
    return JsonFileStateStore(path) if path else None


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


