"""The export lifecycle: create (or reuse), poll all at once, re-create, time out.

``exports/add`` starts one export per entity type; one ``exports/getAll``
(ids batched by 1000) polls every pending export, with an interval that
doubles up to a cap, so a nightly job neither hammers the API nor waits
longer than it must.  Each status has one outcome:

* ``Success``  → the export is handed to the caller (its parts stream);
* ``Failed``   → :class:`ExportError`, or a new export if ``recreate_failed``;
* ``Expired``  → a new export (its files are gone);
* ``Pending``/``Processing`` past the deadline → :class:`ExportTimeoutError`.

Mews refuses a second export of an entity type while one is Pending or
Processing (HTTP 400) and has no call to list exports: only ids remembered
from earlier runs (``known_exports``, e.g. from a state file) let us pick
up that export instead.  Every id this run creates is reported through
``on_created`` and kept in :attr:`ExportLifecycle.created`, so a caller can
persist it.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio

from streamer.errors import ExportError, ExportFailedError, HTTPError
from streamer.providers.mews.client import MewsClient
from streamer.providers.mews.requests import ExportRequest
from streamer.providers.polling import Deadline, PollSchedule

log = logging.getLogger("streamer.mews")

PENDING, PROCESSING, SUCCESS, FAILED, EXPIRED = "Pending", "Processing", "Success", "Failed", "Expired"
RUNNING = frozenset({PENDING, PROCESSING})
MAX_IDS_PER_GETALL = 1000
_DUPLICATE_HINT = re.compile(r"pending|processing|already|in progress|exists", re.IGNORECASE)


@dataclass(frozen=True)
class PollPolicy:
    """How patiently to wait for exports.

    The default schedule follows Mews's guidance ("poll every few minutes",
    with backoff rather than a tight loop) while still picking up a small
    export quickly: polls after 5, 10, 20, 40, 80 and 160 s, then every
    3 minutes until the deadline (see :mod:`streamer.providers.polling`).
    """

    initial_interval: float = 5.0
    """Seconds before the first poll; doubles after each poll that finds work pending."""
    max_interval: float = 180.0
    """Longest wait between two polls: Mews suggests polling every few minutes."""
    multiplier: float = 2.0
    deadline: float = 4 * 3600.0
    """Seconds an export may stay Pending/Processing, counted from its creation, before
    :class:`ExportTimeoutError`."""
    recreate_failed: bool = False
    """Create a new export when Mews reports one as Failed (instead of failing the run)."""
    max_recreations: int = 3
    """New exports created per entity type after Failed/Expired before giving up."""
    reuse_known: bool = False
    """Use a known export id (Pending, Processing or Success) *before* creating a new
    export, e.g. to resume yesterday's interrupted download of the same files.
    Without it, known ids are only used when Mews refuses a duplicate export."""

    def __post_init__(self) -> None:
        self.schedule  # noqa: B018  (building the schedule validates the policy)

    @property
    def schedule(self) -> PollSchedule:
        return PollSchedule(
            initial=self.initial_interval, factor=self.multiplier, cap=self.max_interval, deadline=self.deadline
        )


@dataclass(frozen=True)
class ExportFile:
    url: str = field(repr=False)
    size: int | None


@dataclass
class MewsExport:
    """One export as ``exports/getAll`` last described it."""

    id: str
    entity_type: str
    status: str
    files: list[ExportFile]
    expires_utc: str | None = None
    fetched_at: float = field(default_factory=time.monotonic)
    """``time.monotonic()`` when Mews returned these file URLs."""
    request_id: str | None = None

    @classmethod
    def parse(cls, doc: Any, request_id: str | None, fetched_at: float) -> MewsExport:
        if not isinstance(doc, dict) or not isinstance(doc.get("Id"), str):
            raise ExportError(f"Mews returned an export without an Id: {str(doc)[:200]} (request id {request_id})")
        files = []
        for entry in doc.get("Files") or []:
            url = entry.get("Url") if isinstance(entry, dict) else None
            if not isinstance(url, str) or not url:
                raise ExportError(f"Mews export {doc['Id']} lists a file without a Url (request id {request_id})")
            size = entry.get("SizeInBytes")
            files.append(ExportFile(url, int(size) if isinstance(size, (int, float)) else None))
        return cls(
            id=doc["Id"],
            entity_type=str(doc.get("EntityType") or ""),
            status=str(doc.get("Status") or ""),
            files=files,
            expires_utc=doc.get("ExpiresUtc"),
            fetched_at=fetched_at,
            request_id=request_id,
        )


class ExportAlreadyRunningError(ExportError):
    """Mews refused a new export because one of that type is running, and its id is unknown."""


@dataclass
class _Tracked:
    request: ExportRequest
    export: MewsExport
    deadline: Deadline
    recreations: int = 0


CreatedHook = Callable[[str, str], Awaitable[None] | None]


class ExportLifecycle:
    """Drives the exports of one run; :meth:`ready` yields each as it succeeds."""

    def __init__(
        self,
        client: MewsClient,
        requests: Sequence[ExportRequest],
        *,
        policy: PollPolicy | None = None,
        known_exports: Mapping[str, str] | None = None,
        on_created: CreatedHook | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = anyio.sleep,
    ) -> None:
        self.client = client
        self.requests = list(requests)
        self.policy = policy or PollPolicy()
        self.known = dict(known_exports or {})
        self.on_created = on_created
        self.clock = clock
        self.sleep = sleep
        self.created: dict[str, str] = {}
        """Entity type → id of the export this run created (persist these)."""
        self.in_use: dict[str, str] = {}
        """Entity type → id of the export this run streams (created or reused)."""
        self.polls = 0

    # ------------------------------------------------------------- the loop

    async def ready(self) -> AsyncIterator[MewsExport]:
        """Yield every requested export once it is Success, polling the rest meanwhile."""
        tracked: dict[str, _Tracked] = {}
        for request in self.requests:
            export = await self._start(request)
            tracked[export.id] = _Tracked(request, export, self._deadline(request, export))
        intervals = self.policy.schedule.intervals()
        while tracked:
            done = [t for t in tracked.values() if t.export.status == SUCCESS]
            for item in done:
                del tracked[item.export.id]
                yield item.export
            if not tracked:
                return
            await self.sleep(self._next_wait(tracked.values(), next(intervals)))
            latest = await self.get_all(tracked)
            for export_id, item in list(tracked.items()):
                export = latest.get(export_id)
                if export is None:
                    raise ExportError(
                        f"Mews exports/getAll did not return {item.request.entity_type} export {export_id}; "
                        "it may belong to another access token or platform"
                    )
                item.export = export
                if export.status == SUCCESS:
                    continue
                if export.status in RUNNING:
                    self._check_deadline(item)
                elif export.status in (FAILED, EXPIRED):
                    replacement = await self._recreate(item)
                    del tracked[export_id]
                    tracked[replacement.export.id] = replacement
                    intervals = self.policy.schedule.intervals()
                else:
                    raise ExportError(
                        f"Mews export {export_id} ({item.request.entity_type}) has an unknown status "
                        f"{export.status!r} (request id {export.request_id})"
                    )

    def _deadline(self, request: ExportRequest, export: MewsExport) -> Deadline:
        """Counted from now: the export was just created, or (reused) first seen by this run."""
        return self.policy.schedule.deadline_for(export.id, f"Mews {request.entity_type} export", clock=self.clock)

    def _next_wait(self, tracked: Iterable[_Tracked], interval: float) -> float:
        """The poll interval, shortened so the soonest deadline is noticed when it passes."""
        soonest = min(t.deadline.remaining() for t in tracked)
        return max(0.0, min(interval, soonest + 0.001))

    def _check_deadline(self, item: _Tracked) -> None:
        export = item.export
        entity = item.request.entity_type
        item.deadline.check(
            export.status,
            f"request id {export.request_id}. It keeps running on "
            f"Mews's side: run again later with --export-id {entity}={export.id} "
            f"(library: known_exports={{{entity!r}: {export.id!r}}}) to pick it up, or raise the deadline",
        )

    async def _recreate(self, item: _Tracked) -> _Tracked:
        export = item.export
        entity = item.request.entity_type
        if export.status == FAILED and not self.policy.recreate_failed:
            raise ExportFailedError(
                f"Mews reports {entity} export {export.id} as Failed (request id {export.request_id}); "
                "its files are not available. Run again to create a new export, or enable "
                "recreate_failed (CLI: --recreate-failed)"
            )
        if item.recreations >= self.policy.max_recreations:
            raise ExportError(
                f"Mews {entity} export {export.id} is {export.status} after {item.recreations} "
                f"re-creations (request id {export.request_id}); giving up"
            )
        log.warning("Mews %s export %s is %s; creating a new one", entity, export.id, export.status)
        fresh = await self._add(item.request)
        return _Tracked(item.request, fresh, self._deadline(item.request, fresh), item.recreations + 1)

    # ------------------------------------------------------ create or reuse

    async def _start(self, request: ExportRequest) -> MewsExport:
        entity = request.entity_type
        known = self.known.get(entity)
        if known and self.policy.reuse_known:
            export = (await self.get_all([known])).get(known)
            if export is not None and (export.status in RUNNING or export.status == SUCCESS):
                log.info("Mews %s: reusing known export %s (%s)", entity, known, export.status)
                self.in_use[entity] = known
                return export
        try:
            return await self._add(request)
        except HTTPError as exc:
            if exc.status != 400:
                raise
            if known:
                export = (await self.get_all([known])).get(known)
                if export is not None and export.status in RUNNING:
                    log.warning(
                        "Mews %s: an export is already %s; reusing known export %s", entity, export.status, known
                    )
                    self.in_use[entity] = known
                    return export
            if not _DUPLICATE_HINT.search(str(exc)):
                raise
            stale = f" (the known id {known} is not the running export)" if known else ""
            raise ExportAlreadyRunningError(
                f"{exc}. An export of {entity} is already Pending or Processing for this access token, "
                f"and this run does not know its id{stale}; Mews has no call to list exports. "
                f"Pass the id printed when it was created (CLI: --export-id {entity}=<id>; library: "
                f"known_exports={{{entity!r}: '<id>'}}) to reuse it, or wait for it to finish and run again"
            ) from exc

    async def _add(self, request: ExportRequest) -> MewsExport:
        reply = await self.client.call("exports", "add", request.body())
        export = MewsExport.parse(reply.body.get("Export"), reply.request_id, self.clock())
        entity = request.entity_type
        self.created[entity] = export.id
        self.in_use[entity] = export.id
        log.info("Mews %s: created export %s", entity, export.id)
        if self.on_created is not None:
            result = self.on_created(entity, export.id)
            if result is not None:
                await result
        return export

    # ---------------------------------------------------------------- polls

    async def get_all(self, export_ids: Iterable[str]) -> dict[str, MewsExport]:
        """The current state of these exports, ``MAX_IDS_PER_GETALL`` ids per call."""
        ids = list(dict.fromkeys(export_ids))
        found: dict[str, MewsExport] = {}
        for start in range(0, len(ids), MAX_IDS_PER_GETALL):
            batch = ids[start : start + MAX_IDS_PER_GETALL]
            reply = await self.client.call("exports", "getAll", {"ExportIds": batch})
            self.polls += 1
            fetched_at = self.clock()
            exports = reply.body.get("Exports")
            if not isinstance(exports, list):
                raise ExportError(f"Mews exports/getAll answered without an Exports list (request id {reply.request_id})")
            for doc in exports:
                export = MewsExport.parse(doc, reply.request_id, fetched_at)
                found[export.id] = export
        return found

    async def refresh(self, export_id: str) -> MewsExport:
        """The export with freshly signed file URLs (every getAll returns new ones)."""
        export = (await self.get_all([export_id])).get(export_id)
        if export is None:
            raise ExportError(f"Mews exports/getAll no longer returns export {export_id}")
        if export.status != SUCCESS:
            raise ExportError(
                f"Mews export {export_id} ({export.entity_type}) became {export.status} during the download "
                f"(request id {export.request_id}); its files can no longer be fetched — run again"
            )
        return export
