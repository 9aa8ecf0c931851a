"""A LogiSense DataExport from trigger (or pick) to a downloadable history row.

The status type names are not documented: names are mapped case-insensitively
to four states (pending, running, done, failed/cancelled), callers may add
their own names, and an unknown name is reported clearly — at once if the
row says it is finished (``complete`` set), else when the deadline passes.
A row counts as done only when its status says so *and* ``complete`` is set.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal

import aiohttp

from streamer.errors import ExportError, ExportFailedError, StreamerError
from streamer.providers.logisense.client import LogisenseClient
from streamer.providers.polling import PollSchedule

log = logging.getLogger("streamer.logisense")

State = Literal["pending", "running", "done", "failed", "cancelled", "unknown"]
STATES: tuple[State, ...] = ("pending", "running", "done", "failed", "cancelled")
"""What a status name can be taught to mean (``status_names=``, ``--status-name NAME=STATE``)."""

STATUS_NAMES: dict[str, State] = {
    "pending": "pending",
    "queued": "pending",
    "new": "pending",
    "scheduled": "pending",
    "processing": "running",
    "running": "running",
    "in progress": "running",
    "inprogress": "running",
    "exporting": "running",
    "complete": "done",
    "completed": "done",
    "success": "done",
    "succeeded": "done",
    "done": "done",
    "failed": "failed",
    "failure": "failed",
    "error": "failed",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "cancel": "cancelled",
}

HISTORY = "DataExport/History"
POLL_FACTOR = 1.5
"""Each wait between polls is 1.5 times the last (LogiSense documents no polling pace)."""


def status_of(row: Mapping[str, Any], extra: Mapping[str, str] | None = None) -> tuple[State, str]:
    """(state, the vendor's status name) of a history row."""
    name = str(row.get("dataExportHistoryStatusTypeName") or "").strip()
    key = name.lower()
    if extra:
        for custom, state in extra.items():
            if custom.lower() == key:
                return state, name  # type: ignore[return-value]
    return STATUS_NAMES.get(key, "unknown"), name


def history_id_of(answer: Mapping[str, Any]) -> int:
    """The DataExportHistory id in a ``Trigger`` answer, whatever shape it takes.

    The docs only say Trigger "returns the DataExportHistoryID": accept a bare
    id field, an ``instance``, or a ``results.items[0]`` like ``Cancel`` answers.
    """
    candidates: list[Any] = [answer]
    if isinstance(answer.get("instance"), dict):
        candidates.append(answer["instance"])
    results = answer.get("results")
    if isinstance(results, dict) and results.get("items"):
        candidates.append(results["items"][0])
    for doc in candidates:
        for key in ("dataExportHistoryId", "dataExportHistoryID", "DataExportHistoryId", "identity", "id"):
            value = doc.get(key) if isinstance(doc, dict) else None
            if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
                return int(value)
    raise ExportError(
        f"LogiSense DataExport/Trigger answer holds no DataExportHistory id "
        f"(trackingId {answer.get('trackingId')}): keys {sorted(answer)}"
    )


class DataExportLifecycle:
    """Trigger, find, poll and cancel DataExportHistory rows of one tenant."""

    def __init__(
        self,
        client: LogisenseClient,
        *,
        poll_interval: float = 2.0,
        max_poll_interval: float = 15.0,
        timeout: float = 3600.0,
        status_names: Mapping[str, str] | None = None,
        page_size: int = 100,
    ) -> None:
        self.client = client
        self.schedule = PollSchedule(
            initial=poll_interval, factor=POLL_FACTOR, cap=max(max_poll_interval, poll_interval), deadline=timeout
        )
        self.status_names = dict(status_names or {})
        self.page_size = page_size

    async def trigger(self, body: Any) -> int:
        answer = await self.client.post("DataExport/Trigger", body)
        history_id = history_id_of(answer)
        log.info("LogiSense: triggered DataExportHistory %s (trackingId %s)", history_id, answer.get("trackingId"))
        return history_id

    async def get(self, history_id: int) -> dict[str, Any]:
        answer = await self.client.get(f"{HISTORY}/{history_id}")
        row = answer.get("instance")
        if not isinstance(row, dict):
            raise ExportError(
                f"LogiSense DataExportHistory {history_id}: answer has no instance "
                f"(trackingId {answer.get('trackingId')})"
            )
        row.setdefault("trackingId", answer.get("trackingId"))
        return row

    async def all_rows(self) -> list[dict[str, Any]]:
        """``GET DataExport/History/``: every row in one answer (small tenants)."""
        answer = await self.client.get(f"{HISTORY}/")
        return list(answer.get("items") or [])

    async def paged(self, *, page_size: int | None = None) -> AsyncIterator[dict[str, Any]]:
        """``GET DataExport/History/Paged`` walked page by page until ``totalCount`` rows or an empty page."""
        size = page_size or self.page_size
        number, seen = 1, 0
        while True:
            answer = await self.client.get(
                f"{HISTORY}/Paged", params={"pageNumber": number, "pageSize": size, "excludeTotalCount": "false"}
            )
            results = answer.get("pagedResults") or {}
            items = list(results.get("items") or [])
            for row in items:
                yield row
            seen += len(items)
            total = results.get("totalCount")
            if not items or len(items) < size or (isinstance(total, int) and seen >= total):
                return
            number += 1

    async def latest_complete(self, data_export_id: int) -> int:
        """The newest finished history row of one DataExport (walking the paged list)."""
        best: dict[str, Any] | None = None
        async for row in self.paged():
            if row.get("dataExportId") != data_export_id:
                continue
            state, _ = status_of(row, self.status_names)
            if state == "done" and row.get("complete") and (best is None or row["identity"] > best["identity"]):
                best = row
        if best is None:
            raise ExportError(f"LogiSense DataExport {data_export_id} has no completed history row")
        return int(best["identity"])

    async def wait_done(self, history_id: int, *, started_at: float | None = None) -> dict[str, Any]:
        """Poll ``History/{id}`` until it is done; raise on failure, cancellation or timeout.

        ``started_at`` (:func:`streamer.providers.polling.monotonic`) is when the
        export was triggered; the deadline counts from then, or from now for
        a row this run did not trigger.
        """
        poller = self.schedule.poller(str(history_id), "LogiSense DataExportHistory", started_at=started_at)
        while True:
            row = await self.get(history_id)
            state, name = status_of(row, self.status_names)
            complete = row.get("complete")
            tracking = row.get("trackingId")
            where = f"LogiSense DataExportHistory {history_id} (status {name!r}, trackingId {tracking})"
            if state == "done" and complete:
                return row
            if state == "failed":
                raise ExportFailedError(f"{where} failed")
            if state == "cancelled":
                raise ExportError(f"{where} was cancelled")
            if state == "unknown" and complete:
                raise ExportError(
                    f"{where} finished with a status this client does not know; "
                    f"pass status_names={{{name!r}: 'done'}} (CLI: --status-name {name}=done) if it means success"
                )
            hint = f"unknown status {name!r} — teach it with status_names (CLI: --status-name {name}=STATE)" if state == "unknown" else ""
            await poller.wait(f"{name!r} (trackingId {tracking}), not done", hint)

    async def cancel(self, history_id: int) -> None:
        """``POST History/{id}/Cancel``; failures are logged, never raised (we are aborting)."""
        try:
            await self.client.post(f"{HISTORY}/{history_id}/Cancel", {})
            log.info("LogiSense: cancelled DataExportHistory %s", history_id)
        except (StreamerError, aiohttp.ClientError, OSError) as exc:
            log.warning("LogiSense: could not cancel DataExportHistory %s: %s", history_id, exc)

    async def download_link(self, history_id: int) -> tuple[str, dict[str, Any]]:
        """A fresh presigned link (valid ~30 s) and the row it came with."""
        answer = await self.client.get(f"{HISTORY}/{history_id}/Download")
        instance = answer.get("instance") or {}
        link = instance.get("link") if isinstance(instance, dict) else None
        if not link:
            raise ExportError(
                f"LogiSense DataExportHistory {history_id}/Download answered without a link "
                f"(trackingId {answer.get('trackingId')})"
            )
        return str(link), instance
