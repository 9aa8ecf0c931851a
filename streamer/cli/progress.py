"""A progress bar on stderr (tqdm), only when stderr is a terminal."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import anyio

from streamer.engine.stats import RunStats


@contextlib.asynccontextmanager
async def progress_bar(stats: RunStats, *, enabled: bool, interval: float = 0.25) -> AsyncIterator[None]:
    if not enabled:
        yield
        return
    from tqdm import tqdm

    bar = tqdm(unit="B", unit_scale=True, unit_divisor=1024, dynamic_ncols=True, leave=False)

    async def refresh() -> None:
        while True:
            bar.total = stats.expected_bytes
            bar.n = stats.bytes
            done = sum(p.done for p in stats.parts.values())
            bar.set_postfix_str(f"{stats.records:,} records, parts {done}/{len(stats.parts)}", refresh=False)
            bar.refresh()
            await anyio.sleep(interval)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(refresh)
            try:
                yield
            finally:
                tg.cancel_scope.cancel()
    finally:
        bar.close()
