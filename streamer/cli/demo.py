"""``streamer demo``: the main job end to end against an in-process simulator.

No credentials, no internet: a simulator on 127.0.0.1 serves a multi-entity,
multi-part export with a few dropped connections, and every record goes to
stdout exactly once.  ``streamer demo | wc -l`` equals the count on stderr.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any

import click

from streamer.cli.execute import execute
from streamer.cli.options import build_config, build_sink, engine_options, output_options
from streamer.providers.urls import UrlSource
from streamer.simulator.faults import FaultPlan
from streamer.simulator.server import Simulator

DEMO_ENTITIES = ("OrderItem", "Payment", "Reservation")


class BackgroundSimulator:
    """A simulator on its own event loop thread, so the CLI's run is unaffected."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="simulator", daemon=True)

    def __enter__(self) -> Simulator:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.sim.start(), self._loop).result(timeout=10)
        return self.sim

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.sim.stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


@click.command("demo")
@click.option("--records", default=30_000, show_default=True, help="Records per entity type.")
@click.option("--parts", default=3, show_default=True, help="Files per export.")
@click.option("--seed", default=0, show_default=True)
@engine_options
@output_options
@click.pass_context
def command(ctx: click.Context, records: int, parts: int, seed: int, **options: Any) -> None:
    """Stream a simulated multi-entity export to stdout (try: streamer demo | wc -l).

    The simulator cuts two connections mid-file; the run resumes them with
    Range and still delivers every record exactly once.
    """
    faults = FaultPlan(seed=seed)
    sim = Simulator(seed=seed, faults=faults)
    exports = [sim.add_export(entity, records=records, parts=parts) for entity in DEMO_ENTITIES]
    faults.drop_at[f"{exports[0].id}/0"] = [exports[0].files[0].size // 3]
    faults.drop_at[f"{exports[1].id}/{parts - 1}"] = [exports[1].files[-1].size // 2]
    with BackgroundSimulator(sim):
        urls = [url for export in exports for url in sim.file_urls(export)]
        source = UrlSource(urls, sizes=[e.file_size(i) for e in exports for i in range(len(e.files))])
        quiet = ctx.obj["quiet"]
        if not quiet:
            click.echo(f"streamer demo: simulator at {sim.base_url} generated {sim.total_records} records", err=True)
        execute(source, build_sink(**options), build_config(**options), quiet=quiet)
    sys.stdout.flush()
