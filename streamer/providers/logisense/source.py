"""``LogisenseSource``: DataExport history rows as CSV parts behind 30-second S3 links.

Each history row (triggered now, given by id, or the latest of a DataExport)
becomes one :class:`~streamer.records.Part` as soon as it is done.  Its link
is fetched just before the part is handed to the engine, ``url_ttl`` tells the
engine how long it lives, and ``refresh`` asks ``History/{id}/Download`` again
— the engine calls it when the link is near its end, or when S3 answers
403 "Request has expired", then resumes with ``Range`` after the last byte
received, so no row is lost or repeated.

The row count is checked where the rows are counted: the CSV decoder gets
``expected_rows=exportRowCount`` and fails the part at end of file, naming
the history id and both counts, when they differ.  The count survives a
cold resume (it travels in the checkpoint's decoder state).

Exports this source triggered and that are not finished are cancelled
(``POST History/{id}/Cancel``) when the run is aborted, if ``cancel_on_abort``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

import aiohttp
import anyio

from streamer.errors import ConfigError
from streamer.http.retry import RetryPolicy
from streamer.providers.logisense.auth import LogisenseAuth, login_url_for
from streamer.providers.logisense.client import LogisenseClient, base_url_for
from streamer.providers.logisense.lifecycle import DataExportLifecycle
from streamer.providers.polling import monotonic
from streamer.records import Part, PartInfo

log = logging.getLogger("streamer.logisense")

LINK_TTL = 30.0
"""Seconds a ``History/{id}/Download`` link lives, per the LogiSense docs."""


class LogisenseSource:
    """Streams LogiSense DataExport CSV files.

    Pick what to stream with any mix of ``export_ids`` (trigger those
    DataExports now), ``history_ids`` (existing DataExportHistory rows; waited
    for if still running) and ``latest_of`` (the newest completed row of those
    DataExports, found by walking ``History/Paged``).
    """

    name = "logisense"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        tenant: str | None = None,
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        client_secret: str | None = None,
        auth_url: str | None = None,
        auth: LogisenseAuth | None = None,
        export_ids: Iterable[int] = (),
        history_ids: Iterable[int] = (),
        latest_of: Iterable[int] = (),
        trigger_body: Mapping[str, Any] | None = None,
        poll_interval: float = 2.0,
        timeout: float = 3600.0,
        cancel_on_abort: bool = True,
        url_ttl: float = LINK_TTL,
        check_row_count: bool = True,
        status_names: Mapping[str, str] | None = None,
        csv_options: Mapping[str, Any] | None = None,
        retry: RetryPolicy | None = None,
        on_triggered: Callable[[int, int], None] | None = None,
    ) -> None:
        self.base_url = base_url_for(base_url, tenant)
        self.retry = retry or RetryPolicy()
        self.auth = auth or LogisenseAuth(
            login_url_for(auth_url, self.base_url),
            client_id=client_id or "",
            username=username,
            password=password,
            client_secret=client_secret,
            retry=self.retry,
        )
        self.export_ids = [int(i) for i in export_ids]
        self.history_ids = [int(i) for i in history_ids]
        self.latest_of = [int(i) for i in latest_of]
        if not (self.export_ids or self.history_ids or self.latest_of):
            raise ConfigError("LogisenseSource needs export_ids to trigger, history_ids, or latest_of")
        self.trigger_body = dict(trigger_body) if trigger_body is not None else None
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.cancel_on_abort = cancel_on_abort
        self.url_ttl = url_ttl
        self.check_row_count = check_row_count
        self.status_names = dict(status_names or {})
        self.csv_options = dict(csv_options or {})
        self.on_triggered = on_triggered
        """Called with (DataExport id, DataExportHistory id) after each trigger."""
        self.triggered: list[int] = []
        """History ids this source started (the ones it may cancel)."""

    def _body_for(self, export_id: int) -> Any:
        """The Trigger body: the given one (its body is undocumented), else ``{"dataExportId": N}``."""
        if self.trigger_body is not None:
            return {**self.trigger_body, "dataExportId": self.trigger_body.get("dataExportId", export_id)}
        return {"dataExportId": export_id}

    async def parts(self, session: aiohttp.ClientSession) -> AsyncIterator[Part]:
        client = LogisenseClient(session, self.base_url, self.auth, retry=self.retry)
        lifecycle = DataExportLifecycle(
            client, poll_interval=self.poll_interval, timeout=self.timeout, status_names=self.status_names
        )
        unfinished: set[int] = set()
        triggered_at: dict[int, float] = {}
        try:
            for export_id in self.export_ids:
                started = monotonic()
                history_id = await lifecycle.trigger(self._body_for(export_id))
                triggered_at[history_id] = started
                self.triggered.append(history_id)
                unfinished.add(history_id)
                if self.on_triggered is not None:
                    self.on_triggered(export_id, history_id)
            ids = list(self.history_ids)
            for export_id in self.latest_of:
                ids.append(await lifecycle.latest_complete(export_id))
            ids.extend(self.triggered)
            for index, history_id in enumerate(ids):
                row = await lifecycle.wait_done(history_id, started_at=triggered_at.get(history_id))
                unfinished.discard(history_id)
                part = await self._part(lifecycle, index, history_id, row)
                yield part
        finally:
            if self.cancel_on_abort and unfinished:
                with anyio.CancelScope(shield=True), anyio.move_on_after(15):
                    for history_id in sorted(unfinished):
                        await lifecycle.cancel(history_id)

    async def _part(
        self, lifecycle: DataExportLifecycle, index: int, history_id: int, row: Mapping[str, Any]
    ) -> Part:
        link, instance = await lifecycle.download_link(history_id)
        issued = time.monotonic()
        rows = instance.get("exportRowCount", row.get("exportRowCount"))
        options = dict(self.csv_options)
        if self.check_row_count and isinstance(rows, int):
            options["expected_rows"] = rows
            options["expected_rows_source"] = f"LogiSense DataExportHistory {history_id} (exportRowCount)"
        name = row.get("dataExportName") or f"DataExport {row.get('dataExportId')}"

        async def refresh() -> str:
            fresh, _ = await lifecycle.download_link(history_id)
            return fresh

        return Part(
            info=PartInfo(
                source=self.name,
                index=index,
                entity_type=str(name),
                export_id=str(history_id),
                name=f"DataExportHistory {history_id}",
            ),
            url=link,
            records=rows if isinstance(rows, int) and rows >= 0 else None,
            format="csv",
            refresh=refresh,
            url_ttl=self.url_ttl,
            url_issued_at=issued,
            decoder_options=options,
        )
