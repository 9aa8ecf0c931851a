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
growing interval (:mod:`streamer.providers.polling`) until ``timeout``; ``failed`` raises :class:`ExportFailedError`
with Rebilly's ``failureReason``.  A completed export becomes one part whose
URL comes from its ``signedLink``, its ``download`` link or its file id
(``fileId``, or ``_embedded.file.id`` — the export is fetched with
``expand=file``; ``GET /files/{id}/download`` → 302 → signed URL); ``Part.refresh`` re-signs
it, so the engine survives links that expire mid-download.

The part's decoder sniffs the body: Rebilly sends a ZIP of several files
once an export passes 1,000,000 records, a bare file otherwise, and nothing
in the export resource says which; see :mod:`streamer.decoding.zip_parts`.
``xml`` and ``pdf`` exports carry no line records and are refused up front;
``detailed-csv`` is read as CSV.  What may be requested (resources, their
formats, the 50-character name) is :mod:`streamer.providers.rebilly.catalog`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

import aiohttp
import orjson

from streamer.errors import ConfigError, ExportError, ExportFailedError
from streamer.http.redact import redact_url
from streamer.http.retry import RetryPolicy
from streamer.incremental.bookmarks import BookmarkTracker
from streamer.incremental.rebilly import RebillyIncremental
from streamer.incremental.windows import Incremental, as_incremental
from streamer.providers.polling import PollSchedule
from streamer.providers.rebilly.api import DEFAULT_PREFIX, LIVE_URL, SANDBOX_URL, RebillyApi
from streamer.providers.rebilly.auth import RebillyAuth
from streamer.providers.rebilly.catalog import NAME_MAX_LENGTH, RECORD_FORMATS, RECORDLESS_FORMATS, RESOURCES
from streamer.records import Part, PartInfo

import streamer.decoding.json_array  # noqa: F401  (registers "json" and "json-api")
import streamer.decoding.zip_parts  # noqa: F401  (registers "zip")

log = logging.getLogger("streamer.rebilly")

STREAMABLE_FORMATS = RECORD_FORMATS
MEMBER_FORMAT = {"detailed-csv": "csv"}
"""The decoder of each export format that is not named after one (detailed-csv is a CSV)."""
IN_PROGRESS = frozenset({"pending", "queued", "processing"})
DEFAULT_MAX_RATE_LIMIT_WAIT = 900.0
"""Longest ``X-RateLimit-Retry-After`` wait honoured: Rebilly's rate windows are 10 minutes."""
POLL_FACTOR = 1.5
"""Each wait between status checks is 1.5 times the last (Rebilly documents no polling pace)."""


@dataclass(frozen=True)
class DateRange:
    start: str
    """Any datetime Rebilly accepts, relative ones included (``"yesterday"``)."""
    end: str
    field: str | None = None
    """The date field to filter on (Rebilly's default depends on the resource: see
    :data:`streamer.providers.rebilly.catalog.RESOURCES`, e.g. ``processedTime`` for transactions)."""


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

    def default_name(self) -> str:
        """``streamer <resource> <UTC time>``, within Rebilly's 50 characters for every resource."""
        stamp = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}"
        return f"streamer {self.resource}"[: NAME_MAX_LENGTH - len(stamp) - 1] + " " + stamp

    def check(self) -> None:
        """Refuse what Rebilly's schema refuses (422) before anything is requested."""
        where = f"Rebilly resource {self.resource!r}"
        resource = RESOURCES.get(self.resource)
        if resource is None:
            raise ConfigError(f"{where} cannot be exported; Rebilly exports {', '.join(RESOURCES)}")
        check_format(self.format)
        if self.format not in resource.formats:
            raise ConfigError(
                f"{where} cannot be exported as {self.format!r}; its formats are {', '.join(resource.formats)}"
            )
        if self.name is not None and not 0 < len(self.name) <= NAME_MAX_LENGTH:
            raise ConfigError(
                f"the export name {self.name!r} has {len(self.name)} characters; Rebilly allows 1 to {NAME_MAX_LENGTH}"
            )

    def body(self) -> dict[str, Any]:
        name = self.name or self.default_name()
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
        max_rate_limit_wait: float = DEFAULT_MAX_RATE_LIMIT_WAIT,
        on_export_created: Callable[[dict[str, Any]], None] | None = None,
        incremental: Incremental | bool = False,
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
            self.request.check()
        self.list_filter = list_filter
        self.list_sort = list_sort
        if base_url and sandbox:
            raise ConfigError("give either a base URL or --sandbox, not both")
        self.base_url = base_url or (SANDBOX_URL if sandbox else LIVE_URL)
        self.path_prefix = path_prefix
        try:
            self.schedule = PollSchedule(
                initial=poll_interval, factor=POLL_FACTOR, cap=max_poll_interval, deadline=timeout
            )
        except ValueError as exc:
            raise ConfigError(f"Rebilly polling: {exc}") from None
        self.page_size = page_size
        if max_rate_limit_wait <= 0:
            raise ConfigError("the longest rate-limit wait must be positive")
        # Rebilly's limits are per 10-minute window: honour its X-RateLimit-Retry-After that far.
        self.retry = replace(retry or RetryPolicy(), max_retry_after=max_rate_limit_wait)
        self.on_export_created = on_export_created
        """Called with the new export resource right after the POST (e.g. to save its id)."""
        self.exports: list[dict[str, Any]] = []
        """The export resources as last seen (completed ones included), for callers and tests."""
        self.skipped: list[tuple[str, str]] = []
        """``(export id, why)`` of listed exports that could not be streamed (list mode only)."""
        options = as_incremental(incremental)
        if options is not None and (self.export_ids or from_list):
            raise ConfigError("an incremental export creates its own export: no export ids or listing with it")
        self.incremental = None if options is None else RebillyIncremental(
            options, organization_id=organization_id, resource=self.request.resource
        )
        """Changes since the bookmark (see :mod:`streamer.incremental.rebilly`)."""
        self.bookmarks: BookmarkTracker | None = self.incremental.tracker if self.incremental else None

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
            part = await self._part(api, completed, index)
            if self.incremental is not None:
                self.incremental.expect(part.info.export_id or "", [part.info])
            yield part
            index += 1

    # ----------------------------------------------------------- which exports

    async def _exports(self, api: RebillyApi) -> AsyncIterator[dict[str, Any]]:
        if self.export_ids:
            for export_id in self.export_ids:
                yield await api.get_export(export_id)
        elif self.from_list:
            async for export in api.list_exports(filter=self.list_filter, sort=self.list_sort, limit=self.page_size):
                yield export
        elif self.incremental is not None:
            async for export in self._incremental_export(api):
                yield export
        else:
            created = await api.create_export(self.request.body())
            log.info("requested Rebilly data export %s (%s)", created.get("id"), created.get("name"))
            if self.on_export_created is not None:
                self.on_export_created(created)
            yield created

    async def _incremental_export(self, api: RebillyApi) -> AsyncIterator[dict[str, Any]]:
        assert self.incremental is not None
        request = self.incremental.plan(self.request)
        if request is None:
            return
        if self.incremental.resume_id is not None:
            yield await api.get_export(self.incremental.resume_id)
            return
        created = await api.create_export(request.body())  # type: ignore[attr-defined]
        self.incremental.created(str(created.get("id")))
        if self.on_export_created is not None:
            self.on_export_created(created)
        yield created

    async def wait(self, api: RebillyApi, export: dict[str, Any]) -> dict[str, Any]:
        """Poll until the export is completed; raise on ``failed`` or past the deadline.

        The deadline counts from now: right after the POST for an export this
        run created, from the moment it was listed or attached otherwise.
        """
        export_id = str(export.get("id"))
        check_format(str(export.get("format", "csv")), f"Rebilly data export {export_id}")
        poller = self.schedule.poller(export_id, "Rebilly data export")
        while True:
            status = export.get("status")
            if status == "completed":
                return export
            if status == "failed":
                reason = export.get("failureReason") or "no failureReason given"
                raise ExportFailedError(f"Rebilly data export {export_id} ({export.get('name', '')}) failed: {reason}")
            if status is not None and status not in IN_PROGRESS:
                raise ExportError(f"Rebilly data export {export_id} has an unknown status {status!r}")
            await poller.wait(status, "raise --timeout or attach to it later with --export-id")
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
        # recordCount counts records, not rows: only plain csv has one row per record (detailed-csv
        # adds rows of details, in a layout the spec does not describe).
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
            # detailed-csv adds rows of details, each streamed as a record: recordCount does not count them
            records=count if isinstance(count, int) and count >= 0 and fmt != "detailed-csv" else None,
            format="zip",  # a ZIP of parts, or the bare file: sniffed
            compression="none",
            refresh=None if headers else refresh,
            headers=headers,
            decoder_options={"member_format": MEMBER_FORMAT.get(fmt, fmt), "plain": True, "plain_options": plain_options},
        )

    async def _download_url(self, api: RebillyApi, export: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
        """Signed URL (or API URL + auth headers) of a completed export's file."""
        links = {link.get("rel"): link.get("href") for link in export.get("_links") or [] if isinstance(link, dict)}
        if links.get("signedLink"):
            return str(links["signedLink"]), {}
        if links.get("download"):
            return await api.resolve_download(str(links["download"]))
        # The spec's two places for the file: ``fileId``, and ``_embedded.file`` (asked for with
        # ``expand=file``); it has no ``file`` member.
        embedded = export.get("_embedded")
        file = embedded.get("file") if isinstance(embedded, dict) else None
        file_id = export.get("fileId") or (file.get("id") if isinstance(file, dict) else None)
        if file_id:
            return await api.resolve_download(api.file_download_url(str(file_id)))
        raise ExportError(
            f"Rebilly data export {export.get('id')} is completed but has no download link, "
            f"signed link or file id (links: {sorted(k for k in links if k)})"
        )

    def __repr__(self) -> str:
        return f"RebillySource(organization_id={self.organization_id!r}, base_url={redact_url(self.base_url)!r})"
