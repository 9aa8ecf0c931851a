"""``streamer simulate``: serve vendor APIs and export files on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import signal
import sys

import click

from streamer.cli.options import RenamedOptionsCommand
from streamer.simulator.faults import FaultPlan
from streamer.simulator.server import Simulator
from streamer.simulator.vendors import VENDOR_MODULES, install


@click.command("simulate", cls=RenamedOptionsCommand, old_env={"entities": "entity", "gzipped": "gzip"})
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, help="0 picks a free port.")
@click.option("--seed", default=0, show_default=True, help="Seed of the generated records and faults.")
@click.option("--entity", multiple=True, default=("OrderItem",), show_default=True,
              help="Entity type of a ready-made export (repeatable).")
@click.option("--records", default=100_000, show_default=True, help="Records per ready-made export.")
@click.option("--parts", default=4, show_default=True, help="Files per ready-made export.")
@click.option("--gzip", is_flag=True, help="Serve the files as .jsonl.gz.")
@click.option("--content-encoding", is_flag=True, help="Honour Accept-Encoding: gzip on plain files.")
@click.option("--url-ttl", default=600.0, show_default=True, help="Seconds a signed file URL stays valid.")
@click.option("--drop-rate", default=0.0, help="Probability a file response is cut mid-body.")
@click.option("--error-rate", default=0.0, help="Probability of a 503 on any request.")
@click.option("--throttle-rate", default=0.0, help="Probability of a 429 (with Retry-After) on any request.")
@click.option("--bytes-per-second", type=float, help="Throttle every file response (slow server).")
def command(
    host: str,
    port: int,
    seed: int,
    entity: tuple[str, ...],
    records: int,
    parts: int,
    gzip: bool,
    content_encoding: bool,
    url_ttl: float,
    drop_rate: float,
    error_rate: float,
    throttle_rate: float,
    bytes_per_second: float | None,
) -> None:
    """Run the export simulator in the foreground; print its base URL on stdout.

    Ready-made exports are listed, with fresh signed URLs, at GET <base>/.
    The vendor APIs (Mews, LogiSense, Rebilly) create more on request; a
    ready command for each, with the simulator's tokens, is printed on
    stderr next to the base URL.

    \b
    Examples:
      streamer simulate --port 8080 --records 1000000 --parts 8
      streamer urls $(curl -s localhost:8080/ | jq -r '.Exports[0].Files[].Url')
    """
    faults = FaultPlan(
        seed=seed,
        drop_rate=drop_rate,
        error_rate=error_rate,
        throttle_rate=throttle_rate,
        bytes_per_second=bytes_per_second,
    )
    with contextlib.suppress(KeyboardInterrupt):
        sim = Simulator(
            seed=seed, url_ttl=url_ttl, faults=faults, content_encoding=content_encoding, host=host, port=port
        )
        install(sim)
        for name in entity:
            export = sim.add_export(name, records=records, parts=parts, gzip=gzip)
            click.echo(f"export {export.id}: {name}, {export.records} records in {parts} files", err=True)
        asyncio.run(_serve(sim))


async def _serve(sim: Simulator) -> None:
    """Serve until SIGTERM (or Ctrl-C), after printing the base URL and a ready command per vendor."""
    async with sim:
        click.echo(sim.base_url)
        sys.stdout.flush()
        vendors = ", ".join(VENDOR_MODULES) or "none"
        click.echo(f"simulator listening on {sim.base_url} (vendor APIs: {vendors}); Ctrl-C stops it", err=True)
        click.echo("ready commands (in another shell):", err=True)
        for vendor, line in ready_commands(sim).items():
            click.echo(f"  {vendor + ':':<10} {line}", err=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()


def ready_commands(sim: Simulator) -> dict[str, str]:
    """A shell command per vendor that streams from ``sim``, with the tokens it accepts.

    Read from the running simulator's own state, so they cannot drift from
    what it checks.  Poll intervals are short: simulated exports finish in
    well under a second.
    """
    base = sim.base_url
    commands = {"urls": f"streamer urls $(curl -s {base}/ | jq -r '.Exports[0].Files[].Url')"}
    mews = getattr(sim, "mews", None)
    if mews is not None:
        commands["mews"] = _line(
            {"MEWS_CLIENT_TOKEN": mews.config.client_token, "MEWS_ACCESS_TOKEN": mews.config.access_token},
            "mews", "--platform-url", base, "--entity", "Reservation", "--poll-interval", "0.2",
        )
    from streamer.simulator.logisense import LOGISENSE

    logisense = sim.app.get(LOGISENSE)
    if logisense is not None:
        ready = sorted(logisense.history)[:1] or [101]
        commands["logisense"] = _line(
            {"LOGISENSE_PASSWORD": logisense.password},
            "logisense", "--base-url", base, "--username", logisense.username,
            "--client-id", logisense.client_id, "--history-id", str(ready[0]),
        )
    rebilly = getattr(sim, "rebilly", None)
    if rebilly is not None:
        commands["rebilly"] = _line(
            {"REBILLY_API_KEY": rebilly.api_key},
            "rebilly", "--base-url", base, "--organization-id", "org-demo", "--resource", "transactions",
            "--poll-interval", "0.2",
        )
    return commands


def _line(env: dict[str, str], *args: str) -> str:
    return " ".join([*(f"{k}={shlex.quote(v)}" for k, v in env.items()), "streamer", *map(shlex.quote, args)])
