"""``streamer demo``: the Mews path end to end against an in-process simulator.

No credentials, no internet: a simulator on 127.0.0.1 serves the Mews
Connector exports API with the seeds' demo tokens.  The demo creates
exports of several entity types, polls them until they succeed, and streams
their multi-part JSONL files through short-lived signed URLs (re-signed with
``exports/getAll``) while the server cuts a couple of connections mid-file.
Every record goes to stdout exactly once: ``streamer demo | wc -l`` equals
the count printed on stderr.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any

import click

from streamer.assembly import RunStats
from streamer.cli.execute import execute, plan_from_options
from streamer.cli.options import engine_options, output_options
from streamer.providers.mews import MewsSource, PollPolicy
from streamer.providers.mews.limiter import SlidingWindowLimiter
from streamer.simulator.faults import FaultPlan
from streamer.simulator.mews import DEMO_ACCESS_TOKEN, DEMO_CLIENT_TOKEN, MewsSimConfig, install
from streamer.simulator.server import Simulator

DEMO_ENTITIES = ("OrderItem", "Payment", "Reservation", "Customer")


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
@click.option("--url-ttl", default=2.0, show_default=True, help="Seconds the simulated file URLs stay valid.")
@click.option("--seed", default=0, show_default=True)
@engine_options
@output_options
@click.pass_context
def command(ctx: click.Context, records: int, parts: int, url_ttl: float, seed: int, **options: Any) -> None:
    """Stream simulated Mews exports to stdout (try: streamer demo | wc -l).

    Four entity types, each a multi-part export behind the simulated Mews
    API; file URLs expire after --url-ttl seconds and are re-signed, and the
    server cuts two connections mid-file, which the run resumes with Range.
    Every record is delivered exactly once.
    """
    faults = FaultPlan(seed=seed)
    # Each offset fires once, on the first file that reaches it: two cuts in all.
    faults.drop_at["*"] = [300_000, 1_500_000]
    sim = Simulator(seed=seed, faults=faults, url_ttl=url_ttl)
    install(
        sim,
        MewsSimConfig(records=records, parts=parts, pending_seconds=0.1, processing_seconds=0.2, seed=seed),
    )
    quiet = ctx.obj["quiet"]
    with BackgroundSimulator(sim):
        source = MewsSource(
            platform_url=sim.base_url,
            client_token=DEMO_CLIENT_TOKEN,
            access_token=DEMO_ACCESS_TOKEN,
            entity_types=DEMO_ENTITIES,
            client="streamer demo",
            poll=PollPolicy(initial_interval=0.1, max_interval=0.5, deadline=60.0),
            url_ttl=url_ttl,
            limiter=SlidingWindowLimiter(),
        )
        if not quiet:
            click.echo(f"streamer demo: simulated Mews API at {sim.base_url}", err=True)

        def report(stats: RunStats) -> None:
            generated = sum(export.records for export in sim.mews.exports.values())  # type: ignore[attr-defined]
            if not quiet:
                click.echo(
                    f"streamer demo: the simulator generated {generated} records "
                    f"({', '.join(DEMO_ENTITIES)}; {parts} parts each); {stats.records} delivered",
                    err=True,
                )

        execute(plan_from_options(options, quiet=quiet), source, quiet=quiet, after=report)
    sys.stdout.flush()
