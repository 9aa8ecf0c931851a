"""``RebillySource``: request (or find) Rebilly data exports, wait for them, stream their files.

Three ways to say which exports:

* **create** (default): ``POST`` a new export from ``resource``, ``format``,
  ``filter``/``sort``/``q``, ``fields``, ``date_range``, ``recurring`` (an
  RFC 5545 RRULE, passed through) and ``email_notification``;
* **attach**: ``export_ids=[...]`` — exports that already exist;
* **list**: ``from_list=True`` — every export the listing returns (``list_filter``,
  ``list_sort``), walked page by page; not-yet-completed ones are waited for,
  and failed or xml/pdf ones are skipped with a warning (kept in ``skipped``)
  instead of stopping the run.

Each export is polled (pending → queued → processing → completed) with a
growing interval until ``timeout``; ``failed`` raises :class:`ExportFailedError`
with Rebilly's ``failureReason``.  A completed export becomes one part whose
URL comes from its ``signedLink``, its ``download`` link or its file id
(``GET /files/{id}/download`` → 302 → signed URL); ``Part.refresh`` re-signs
it, so the engine survives links that expire mid-download.

The part's decoder sniffs the body: Rebilly sends a ZIP of several files
once an export passes 1,000,000 records, a bare file otherwise, and nothing
in the export resource says which; see :mod:`streamer.decoding.zip_parts`.
``xml`` and ``pdf`` exports carry no line records and are refused up front.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import aiohttp
import anyio
import orjson

from streamer.errors import ConfigError, ExportError, ExportFailedError, ExportTimeoutError
from streamer.http.redact import redact_url
from streamer.http.retry import RetryPolicy
from streamer.providers.rebilly.api import DEFAULT_PREFIX, LIVE_URL, SANDBOX_URL, RebillyApi
from streamer.providers.rebilly.auth import RebillyAuth
from streamer.records import Part, PartInfo

import streamer.decoding.json_array  # noqa: F401  (registers "json" and "json-api")
import streamer.decoding.zip_parts  # noqa: F401  (registers "zip")

log = logging.getLogger("streamer.rebilly")

STREAMABLE_FORMATS = ("csv", "json", "json-api")
RECORDLESS_FORMATS = ("xml", "pdf")
IN_PROGRESS = frozenset({"pending", "queued", "processing"})


@dataclass(frozen=True)
class DateRange:
    start: str
    """Any datetime Rebilly accepts, relative ones included (``"yesterday"``)."""
    end: str
    field: str | None = None
    """The date field to filter on (Rebilly's default: ``createdTime``)."""


@dataclass(frozen=True)
class Recurring:
    instruction: str
    """An RFC 5545 RRULE, e.g. ``"FREQ=DAILY;BYHOUR=2"``; passed through unchanged."""
    start: str | None = None


@dataclass(frozen=True)
class ExportRequest:
    """The body of ``POST /data-exports``."""

    resource: str = "transactions"
    format: str = "csv"
    name: str | None = None
    filter: str | None = None
    sort: str | None = None
    q: str | None = None
    fields: Sequence[str] = ()
    date_range: DateRange | None = None
    recurring: Recurring | None = None
    email_notification: Sequence[str] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Any further members of the request body, sent as given."""

    def fingerprint(self) -> str:
        """Identifies what is asked (everything but the generated name): a saved export is
        reused by a resumed run only for the very same request."""
        body = self.body()
        if self.name is None:
            body.pop("name")
        digest = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
        return f"{self.resource}/{self.format}/{digest}"

    def body(self) -> dict[str, Any]:
        name = self.name or f"streamer {self.resource} {datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ}"
        body: dict[str, Any] = {"name": name, "format": self.format, "resource": self.resource}
        arguments = {k: v for k, v in (("filter", self.filter), ("sort", self.sort), ("q", self.q)) if v}
        if arguments:
            body["arguments"] = arguments
        if self.fields:
            body["fields"] = list(self.fields)
        if self.date_range is not None:
            body["dateRange"] = {"start": self.date_range.start, "end": self.date_range.end}
            if self.date_range.field:
                body["dateRange"]["field"] = self.date_range.field
        if self.recurring is not None:
            body["recurring"] = {"instruction": self.recurring.instruction}
            if self.recurring.start:
                body["recurring"]["start"] = self.recurring.start
        if self.email_notification:
            body["emailNotification"] = list(self.email_notification)
        body.update(self.extra)
        return body


def check_format(fmt: str, where: str = "the requested export") -> None:
    """Refuse formats without line records before anything is requested or downloaded."""
    if fmt in RECORDLESS_FORMATS:
        raise ConfigError(
            f"{where} has format {fmt!r}: Rebilly's {fmt} exports carry no line records, so they "
            f"cannot be streamed record by record; request one of {', '.join(STREAMABLE_FORMATS)}"
        )
    if fmt not in STREAMABLE_FORMATS:
        raise ConfigError(f"{where} has format {fmt!r}; streamer reads {', '.join(STREAMABLE_FORMATS)}")


class RebillySource:
    """Streams Rebilly data exports; see the module docstring for the three modes."""

    name = "rebilly"

    def __init__(
        self,
        *,
        organization_id: str,
        api_key: str | None = None,
        jwt: str | None = None,
        request: ExportRequest | None = None,
        export_ids: Iterable[str] = (),
        from_list: bool = False,
        list_filter: str | None = None,
        list_sort: str | None = None,
        sandbox: bool = False,
        base_url: str | None = None,
        path_prefix: str = DEFAULT_PREFIX,
        poll_interval: float = 2.0,
        max_poll_interval: float = 30.0,
        timeout: float = 6 * 3600.0,
        page_size: int = 100,
        retry: RetryPolicy | None = None,
        on_export_created: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        if not organization_id:
            raise ConfigError("Rebilly needs an organization id (--organization-id / REBILLY_ORGANIZATION_ID)")
        self.auth = RebillyAuth(api_key=api_key, jwt=jwt)
        self.organization_id = organization_id
        self.export_ids = list(export_ids)
        self.from_list = from_list
        if self.export_ids and from_list:
            raise ConfigError("give export ids or ask for the listing, not both")
        self.request = request or ExportRequest()
        if not self.export_ids and not from_list:
            check_format(self.request.format)
        self.list_filter = list_filter
        self.list_sort = list_sort
        if base_url and sandbox:
            raise ConfigError("give either a base URL or --sandbox, not both")
        self.base_url = base_url or (SANDBOX_URL if sandbox else LIVE_URL)
        self.path_prefix = path_prefix
        if poll_interval <= 0 or max_poll_interval < poll_interval:
            raise ConfigError("poll intervals must be positive, max_poll_interval >= poll_interval")
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.timeout = timeout
        self.page_size = page_size
        self.retry = retry or RetryPolicy()
        self.on_export_created = on_export_created
        """Called with the new export resource right after the POST (e.g. to save its id)."""
        self.exports: list[dict[str, Any]] = []
        """The export resources as last seen (completed ones included), for callers and tests."""
        self.skipped: list[tuple[str, str]] = []
        """``(export id, why)`` of listed exports that could not be streamed (list mode only)."""

    def api(self, session: aiohttp.ClientSession) -> RebillyApi:
        return RebillyApi(
            session,
            base_url=self.base_url,
            organization_id=self.organization_id,
            auth=self.auth,
            prefix=self.path_prefix,
            retry=self.retry,
        )

    async def parts(self, session: aiohttp.ClientSession) -> AsyncIterator[Part]:
        api = self.api(session)
        index = 0
        async for export in self._exports(api):
            try:
                completed = await self.wait(api, export)
            except (ExportFailedError, ConfigError) as exc:
                if not self.from_list:
                    raise  # an export asked for by id or created now must be streamed, or the run fails
                # The listing walks history: a failed or xml/pdf export there has no records
                # to lose; say so loudly and go on with the rest.
                log.warning("%s — skipped, the other listed exports go on", exc)
                self.skipped.append((str(export.get("id")), str(exc)))
                continue
            self.exports.append(completed)
            yield await self._part(api, completed, index)
            index += 1

    # ----------------------------------------------------------- which exports

    async def _exports(self, api: RebillyApi) -> AsyncIterator[dict[str, Any]]:
        if self.export_ids:
            for export_id in self.export_ids:
                yield await api.get_export(export_id)
        elif self.from_list:
            async for export in api.list_exports(filter=self.list_filter, sort=self.list_sort, limit=self.page_size):
                yield export
        else:
            created = await api.create_export(self.request.body())
            log.info("requested Rebilly data export %s (%s)", created.get("id"), created.get("name"))
            if self.on_export_created is not None:
                self.on_export_created(created)
            yield created

    async def wait(self, api: RebillyApi, export: dict[str, Any]) -> dict[str, Any]:
        """Poll until the export is completed; raise on ``failed`` or past the deadline."""
        export_id = str(export.get("id"))
        check_format(str(export.get("format", "csv")), f"Rebilly data export {export_id}")
        deadline = time.monotonic() + self.timeout
        interval = self.poll_interval
        while True:
            status = export.get("status")
            if status == "completed":
                return export
            if status == "failed":
                reason = export.get("failureReason") or "no failureReason given"
                raise ExportFailedError(f"Rebilly data export {export_id} ({export.get('name', '')}) failed: {reason}")
            if status is not None and status not in IN_PROGRESS:
                raise ExportError(f"Rebilly data export {export_id} has an unknown status {status!r}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ExportTimeoutError(
                    f"Rebilly data export {export_id} is still {status} after {self.timeout:g}s; "
                    "raise --timeout or attach to it later with --export-id"
                )
            await anyio.sleep(min(interval, remaining))
            interval = min(self.max_poll_interval, interval * 1.5)
            export = await api.get_export(export_id)

    # ------------------------------------------------------------- the part

    async def _part(self, api: RebillyApi, export: dict[str, Any], index: int) -> Part:
        export_id = str(export["id"])
        fmt = str(export.get("format", self.request.format))
        url, headers = await self._download_url(api, export)

        async def refresh() -> str:
            fresh = await api.get_export(export_id)
            new_url, _ = await self._download_url(api, fresh)
            log.info("Rebilly export %s: re-signed its download link", export_id)
            return new_url

        plain_options: dict[str, Any] = {}
        count = export.get("recordCount")
        if fmt == "csv" and isinstance(count, int) and count >= 0:
            plain_options["expected_rows"] = count
            plain_options["expected_rows_source"] = f"Rebilly's recordCount of export {export_id}"
        return Part(
            info=PartInfo(
                source=self.name,
                index=index,
                entity_type=str(export.get("resource") or self.request.resource),
                export_id=export_id,
                name=str(export.get("name") or f"export {export_id}"),
            ),
            url=url,
            format="zip",  # a ZIP of parts, or the bare file: sniffed
            compression="none",
            refresh=None if headers else refresh,
            headers=headers,
            decoder_options={"member_format": fmt, "plain": True, "plain_options": plain_options},
        )

    async def _download_url(self, api: RebillyApi, export: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
        """Signed URL (or API URL + auth headers) of a completed export's file."""
        links = {link.get("rel"): link.get("href") for link in export.get("_links") or [] if isinstance(link, dict)}
        if links.get("signedLink"):
            return str(links["signedLink"]), {}
        if links.get("download"):
            return await api.resolve_download(str(links["download"]))
        file_id = export.get("fileId") or (export.get("file") or {}).get("id")
        if file_id:
            return await api.resolve_download(api.file_download_url(str(file_id)))
        raise ExportError(
            f"Rebilly data export {export.get('id')} is completed but has no download link, "
            f"signed link or file id (links: {sorted(k for k in links if k)})"
        )

    def __repr__(self) -> str:
        return f"RebillySource(organization_id={self.organization_id!r}, base_url={redact_url(self.base_url)!r})"
