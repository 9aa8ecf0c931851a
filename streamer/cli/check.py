"""``streamer check VENDOR …``: verify credentials and list what a run would export, downloading nothing.

``streamer check mews …`` takes exactly the options of ``streamer mews …``
(the sub-commands reuse the export commands' parameters and bodies, so a
check builds the very source a run would), then, instead of running it:

* ``urls``: asks each URL for its size with ``GET`` and ``Range: bytes=0-0``
  (:mod:`streamer.http.sizes`, which a run's size probe uses too) and names
  the format and compression it would be read with;
* ``mews``: calls ``exports/getAll`` — a read that creates nothing — which
  verifies both tokens; exports given with ``--export-id`` are listed with
  their status, files and sizes, the others as the ``exports/add`` request
  a run would send (Mews only knows the files once an export exists, and
  creating one to look at it would start the very work a check avoids);
* ``logisense``: logs in, and lists each ``--history-id`` / ``--latest-of``
  row with its status, row count and file; a ``--trigger`` is listed as the
  Trigger body a run would post (triggering is the export itself);
* ``rebilly``: lists one export (a read) to verify the key or JWT; each
  ``--export-id`` is listed with its status, format and record count, and
  otherwise the export request a run would POST.

Every line goes to stdout; exit 0 when every check passed, 1 otherwise
(each problem on stderr in one line, as a run would report it).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import click
import orjson

from streamer.errors import StreamerError
from streamer.http.redact import redact_text, redact_url
from streamer.http.session import HTTPConfig, open_session

CHECKED_COMMANDS = ("urls", "mews", "logisense", "rebilly")
_CHECKING = "streamer.check"
"""Key in ``ctx.obj``: the running export command is a check (see :func:`checking`)."""

Say = Callable[[str], None]


def checking(ctx: click.Context | None = None) -> bool:
    """Whether the command running now was started by ``streamer check``."""
    ctx = ctx or click.get_current_context(silent=True)
    return bool(ctx is not None and isinstance(ctx.obj, dict) and ctx.obj.get(_CHECKING))


def run_check(source: Any, http: HTTPConfig) -> None:
    """Check ``source`` (instead of running it) and exit 1 if anything failed."""
    checker = _CHECKERS.get(type(source).__name__)
    if checker is None:
        raise click.UsageError(f"streamer check cannot check a {type(source).__name__}")
    problems: list[str] = []

    def say(line: str) -> None:
        click.echo(line)

    async def main() -> None:
        async with open_session(http) as session:
            await checker(source, session, say, problems)

    try:
        asyncio.run(main())
    except StreamerError as exc:
        problems.append(str(exc))
    for problem in problems:
        click.echo(f"streamer: check failed: {redact_text(problem)}", err=True)
    if problems:
        sys.exit(1)
    click.echo("streamer: check passed; nothing was downloaded or created", err=True)


# ------------------------------------------------------------------ per source


async def _check_urls(source: Any, session: aiohttp.ClientSession, say: Say, problems: list[str]) -> None:
    from streamer.http.sizes import probe_size

    total: int | None = 0
    async for part in source.parts(session):
        try:
            status, size = await probe_size(session, part.url, part.headers)
        except aiohttp.ClientError as exc:
            reason = str(exc).splitlines()[0][:160] if str(exc) else ""
            problems.append(f"{part.info.describe()}: {type(exc).__name__} {reason} — {redact_url(part.url)}")
            continue
        if status >= 400:
            problems.append(f"{part.info.describe()}: HTTP {status} — {redact_url(part.url)}")
            continue
        total = None if total is None or size is None else total + size
        say(f"{part.info.describe()}: {part.format}, compression {part.compression}, {_size(size)} (HTTP {status})")
    say(f"total: {_size(total)}")


async def _check_mews(source: Any, session: aiohttp.ClientSession, say: Say, problems: list[str]) -> None:
    from streamer.providers.mews.client import MewsClient
    from streamer.providers.mews.lifecycle import ExportLifecycle

    client = MewsClient(source.credentials, session, retry=source.retry, limiter=source.limiter)
    lifecycle = ExportLifecycle(client, source.requests, policy=source.poll, known_exports=source.known_exports)
    known = {entity: export_id for entity, export_id in source.known_exports.items()}
    # getAll creates nothing; with no id to ask about, the nil UUID still verifies both tokens
    found = await lifecycle.get_all(known.values() or ["00000000-0000-0000-0000-000000000000"])
    say(f"credentials: accepted by {source.credentials.platform_url} (exports/getAll)")
    for request in source.requests:
        export = found.get(known.get(request.entity_type, ""))
        if export is None:
            if request.entity_type in known:
                say(f"{request.entity_type}: export {known[request.entity_type]} not found; a run would create one")
            body = orjson.dumps(request.body()).decode()
            say(f"{request.entity_type}: a run would call exports/add with {body}")
            continue
        sizes = [f.size for f in export.files]
        size = None if None in sizes else sum(s or 0 for s in sizes)
        say(f"{request.entity_type}: export {export.id} is {export.status}, "
            f"{_files(len(export.files))}, {_size(size)}")


async def _check_logisense(source: Any, session: aiohttp.ClientSession, say: Say, problems: list[str]) -> None:
    from streamer.providers.logisense.client import LogisenseClient
    from streamer.providers.logisense.lifecycle import DataExportLifecycle, status_of

    client = LogisenseClient(session, source.base_url, source.auth, retry=source.retry)
    lifecycle = DataExportLifecycle(client, poll_interval=source.poll_interval, timeout=source.timeout)
    ids = [(history_id, f"history {history_id}") for history_id in source.history_ids]
    for export_id in source.latest_of:
        ids.append((await lifecycle.latest_complete(export_id), f"latest of DataExport {export_id}"))
    if not ids:  # nothing to read: one page of the history verifies the login
        async for _ in lifecycle.paged(page_size=1):
            break
    say(f"credentials: accepted by {source.base_url}")
    for history_id, label in ids:
        row = await lifecycle.get(history_id)
        _, status = status_of(row, source.status_names)
        rows = row.get("exportRowCount")
        say(f"{label}: DataExportHistory {history_id} is {status or '?'}, "
            f"{'?' if rows is None else rows} rows ({row.get('dataExportName') or 'unnamed'})")
    for export_id in source.export_ids:
        say(f"DataExport {export_id}: a run would trigger it with {orjson.dumps(source._body_for(export_id)).decode()}")


async def _check_rebilly(source: Any, session: aiohttp.ClientSession, say: Say, problems: list[str]) -> None:
    api = source.api(session)
    async for _ in api.list_exports(limit=1):
        break
    say(f"credentials: accepted for organization {source.organization_id} (data-exports listing)")
    if source.export_ids:
        for export_id in source.export_ids:
            export = await api.get_export(export_id)
            say(_rebilly_line(export))
    elif source.from_list:
        async for export in api.list_exports(filter=source.list_filter, limit=source.page_size):
            say(_rebilly_line(export))
    else:
        say(f"a run would request {orjson.dumps(source.request.body()).decode()}")


def _rebilly_line(export: dict[str, Any]) -> str:
    return (f"export {export.get('id')}: {export.get('status', '?')}, {export.get('resource', '?')} as "
            f"{export.get('format', '?')}, {export.get('recordCount', '?')} records")


_CHECKERS: dict[str, Callable[[Any, aiohttp.ClientSession, Say, list[str]], Awaitable[None]]] = {
    "UrlSource": _check_urls,
    "MewsSource": _check_mews,
    "LogisenseSource": _check_logisense,
    "RebillySource": _check_rebilly,
}


def _size(size: int | None) -> str:
    return "size unknown" if size is None else f"{size:,} bytes"


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


# ------------------------------------------------------------------ the command


class _CheckGroup(click.Group):
    """``check``'s sub-commands: each export command's parameters and body, in check mode."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(CHECKED_COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in CHECKED_COMMANDS:
            return None
        import importlib

        export = importlib.import_module(f"streamer.cli.{name}").command
        return _checking_copy(export)


def _checking_copy(export: click.Command) -> click.Command:
    callback = export.callback
    assert callback is not None

    def run(**kwargs: Any) -> None:
        ctx = click.get_current_context()
        ctx.ensure_object(dict)[_CHECKING] = True
        callback(**kwargs)

    from streamer.cli.options import RenamedOptionsCommand

    cls = type(export)
    extra = (
        {"renamed": export.renamed, "old_env": export.old_env} if isinstance(export, RenamedOptionsCommand) else {}
    )
    return cls(
        export.name, params=export.params, callback=run, help=f"Check, without exporting: {export.help or ''}",
        short_help=f"Check a {export.name} run.", context_settings=export.context_settings, **extra,
    )


@click.group("check", cls=_CheckGroup)
def command() -> None:
    """Verify credentials and list what would be exported; download and create nothing.

    Takes the same options as the export command it checks.

    \b
    Examples:
      streamer check urls https://host/a.jsonl.gz https://host/b.csv
      streamer check mews --entity OrderItem --entity Payment
      streamer check logisense --history-id 101 --latest-of 7
      streamer check rebilly --export-id 4f6cf35x-2c4y-483z-a0a9-158621f77a21
    """
