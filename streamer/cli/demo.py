"""``streamer demo``: one vendor's path end to end against an in-process simulator.

No credentials, no internet: a simulator on 127.0.0.1 serves the vendor's
API with its demo tokens.  The default, Mews, creates exports of several
entity types, polls them until they succeed, and streams their multi-part
JSONL files through short-lived signed URLs (re-signed with
``exports/getAll``) while the server cuts a couple of connections mid-file.
``--vendor logisense`` streams two DataExport CSV files behind expiring
links; ``--vendor rebilly`` requests a transactions export, polls it and
streams its CSV.  Every record goes to stdout exactly once: ``streamer demo
| wc -l`` equals the count printed on stderr.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from streamer.assembly import RunStats
from streamer.cli.execute import execute, plan_from_options
from streamer.cli.options import RenamedOptionsCommand, engine_options, output_options
from streamer.providers.base import Source
from streamer.simulator.faults import FaultPlan
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


@dataclass(frozen=True)
class DemoVendor:
    """How to serve one vendor on the simulator, stream from it, and count what it generated."""

    install: Callable[[Simulator, int, int, int], None]
    """``(sim, records, parts, seed)``: mount the vendor's API with ready data."""
    source: Callable[[Simulator, float], Source]
    """``(sim, url_ttl)``: the source that exports everything the simulator holds."""
    generated: Callable[[Simulator], int]
    what: str
    """What the simulator served, with ``{parts}`` filled in."""


def _mews_install(sim: Simulator, records: int, parts: int, seed: int) -> None:
    from streamer.simulator.mews import MewsSimConfig, install

    install(sim, MewsSimConfig(records=records, parts=parts, pending_seconds=0.1, processing_seconds=0.2, seed=seed))


def _mews_source(sim: Simulator, url_ttl: float) -> Source:
    from streamer.providers.mews import MewsSource, PollPolicy
    from streamer.providers.mews.limiter import SlidingWindowLimiter
    from streamer.simulator.mews import DEMO_ACCESS_TOKEN, DEMO_CLIENT_TOKEN

    return MewsSource(
        platform_url=sim.base_url,
        client_token=DEMO_CLIENT_TOKEN,
        access_token=DEMO_ACCESS_TOKEN,
        entity_types=DEMO_ENTITIES,
        client="streamer demo",
        poll=PollPolicy(initial_interval=0.1, max_interval=0.5, deadline=60.0),
        url_ttl=url_ttl,
        limiter=SlidingWindowLimiter(),
    )


def _logisense_install(sim: Simulator, records: int, parts: int, seed: int) -> None:
    from streamer.simulator.logisense import install

    api = install(sim, ready_made=False, rows_per_export=records, link_ttl=sim.url_ttl, seed=seed)
    for k in range(parts):
        api.add_history(data_export_id=7 + k, name=f"Invoices {k + 1}")


def _logisense_source(sim: Simulator, url_ttl: float) -> Source:
    from streamer.providers.logisense import LogisenseSource
    from streamer.simulator.logisense import LOGISENSE, RESOURCE_PREFIX

    api = sim.app[LOGISENSE]
    return LogisenseSource(
        base_url=f"{sim.base_url}{RESOURCE_PREFIX}/",
        username=api.username,
        password=api.password,
        client_id=api.client_id,
        history_ids=sorted(api.history),
        poll_interval=0.1,
        url_ttl=url_ttl,
    )


def _logisense_generated(sim: Simulator) -> int:
    from streamer.simulator.logisense import LOGISENSE

    return sum(row.rows for row in sim.app[LOGISENSE].history.values())


def _rebilly_install(sim: Simulator, records: int, parts: int, seed: int) -> None:
    from streamer.simulator.rebilly import install

    # more records than one ZIP member holds: Rebilly's ZIP of parts
    install(sim, records=records, zip_threshold=max(records // parts, 1) if parts > 1 else 1_000_000,
            zip_part_records=max(-(-records // parts), 1), seed=seed)


def _rebilly_source(sim: Simulator, url_ttl: float) -> Source:
    from streamer.providers.rebilly import ExportRequest, RebillySource

    return RebillySource(
        organization_id="org-demo",
        api_key=sim.rebilly.api_key,  # type: ignore[attr-defined]
        request=ExportRequest(resource="transactions", format="csv", name="streamer demo"),
        base_url=sim.base_url,
        poll_interval=0.1,
        max_poll_interval=0.5,
    )


VENDORS: dict[str, DemoVendor] = {
    "mews": DemoVendor(
        _mews_install, _mews_source,
        lambda sim: sum(export.records for export in sim.mews.exports.values()),  # type: ignore[attr-defined]
        f"Mews {', '.join(DEMO_ENTITIES)}; {{parts}} parts each",
    ),
    "logisense": DemoVendor(_logisense_install, _logisense_source, _logisense_generated, "{parts} LogiSense DataExport CSV files"),
    "rebilly": DemoVendor(
        _rebilly_install, _rebilly_source,
        lambda sim: sum(export.records for export in sim.rebilly.exports.values()),  # type: ignore[attr-defined]
        "one Rebilly transactions export: a ZIP of {parts} CSV files",
    ),
}


@click.command("demo", cls=RenamedOptionsCommand)
@click.option("--vendor", type=click.Choice(tuple(VENDORS)), default="mews", show_default=True,
              help="Whose API the simulator serves and the demo exports from.")
@click.option("--records", default=30_000, show_default=True,
              help="Records per entity type (Mews), per DataExport file (LogiSense), per export (Rebilly).")
@click.option("--parts", default=3, show_default=True,
              help="Files per export (Mews), DataExport files (LogiSense), ZIP members (Rebilly).")
@click.option("--url-ttl", default=2.0, show_default=True, help="Seconds the simulated file URLs stay valid.")
@click.option("--seed", default=0, show_default=True)
@engine_options
@output_options
@click.pass_context
def command(
    ctx: click.Context, vendor: str, records: int, parts: int, url_ttl: float, seed: int, **options: Any
) -> None:
    """Stream simulated exports to stdout (try: streamer demo | wc -l).

    Default (Mews): four entity types, each a multi-part export behind the
    simulated Mews API; file URLs expire after --url-ttl seconds and are
    re-signed, and the server cuts two connections mid-file, which the run
    resumes with Range.  --vendor logisense or rebilly runs theirs.  Every
    record is delivered exactly once.
    """
    demo = VENDORS[vendor]
    faults = FaultPlan(seed=seed)
    # Each offset fires once, on the first file that reaches it: two cuts in all.
    faults.drop_at["*"] = [300_000, 1_500_000]
    sim = Simulator(seed=seed, faults=faults, url_ttl=url_ttl)
    demo.install(sim, records, parts, seed)
    quiet = ctx.obj["quiet"]
    with BackgroundSimulator(sim):
        source = demo.source(sim, url_ttl)
        if not quiet:
            click.echo(f"streamer demo: simulated {vendor} API at {sim.base_url}", err=True)

        def report(stats: RunStats) -> None:
            if not quiet:
                click.echo(
                    f"streamer demo: the simulator generated {demo.generated(sim)} records "
                    f"({demo.what.format(parts=parts)}); {stats.records} delivered",
                    err=True,
                )

        execute(plan_from_options(options, quiet=quiet), source, quiet=quiet, after=report)
    sys.stdout.flush()
