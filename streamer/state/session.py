"""Wire a state store into one run: load, roll the sink back, acknowledge, close.

Shared by :func:`streamer.run`, :func:`streamer.stream` and the CLI so the
three resume exactly alike.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio

from streamer.records import Checkpoint
from streamer.state.store import StateStore

CheckpointHook = Callable[[Checkpoint], Awaitable[None] | None]


@dataclass
class RunHooks:
    """What to pass to ``run_export`` for a run tracked by a state store."""

    checkpoints: dict[str, Checkpoint] | None
    """``None`` for a fresh run (so a sink's own committed checkpoints are not consulted either)."""
    on_checkpoint: CheckpointHook


def begin_run(store: StateStore, sink: object, *, resume: bool) -> dict[str, Checkpoint] | None:
    """Load the state (or start it over) and return the checkpoints to resume from.

    With ``resume=False`` everything saved before is forgotten — a checkpoint
    that marked a part done in an older run must not make this run skip it.
    """
    store.load()
    if not resume:
        store.reset()
    store.attach_sink(sink, restore=resume)
    mark_running = getattr(store, "mark_running", None)
    if mark_running is not None:
        mark_running()
    save_now = getattr(store, "save_now", None)
    if save_now is not None:
        save_now()  # the sink's starting mark is on disk before its first write
    return store.checkpoints() if resume else None


@asynccontextmanager
async def tracked_run(
    store: StateStore, sink: object, *, resume: bool, on_checkpoint: CheckpointHook | None = None
) -> AsyncIterator[RunHooks]:
    """``async with tracked_run(...) as hooks: await run_export(..., **vars(hooks))``."""
    checkpoints = begin_run(store, sink, resume=resume)

    async def acknowledge(checkpoint: Checkpoint) -> None:
        await store.acknowledge(checkpoint)
        if on_checkpoint is not None:
            result = on_checkpoint(checkpoint)
            if result is not None:
                await result

    try:
        yield RunHooks(checkpoints, acknowledge)
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            await store.close(exc)
        raise
    else:
        await store.close(None)
