"""The Mews Connector exports API on the simulator, as documented (seeds 000–002).

``POST /api/connector/v1/exports/add`` and ``.../exports/getAll`` with body
auth, case-sensitive paths, a ``Request-Id`` header on every response and
errors shaped ``{Message, RequestId, Details}``:

* 400 for a malformed body, an unknown entity type, a bad ``Scope`` or
  ``Filters`` (the documented limits), a missing LedgerEntry posting
  interval, more than 1000 ``ExportIds``, and a new export of an entity type
  that already has one Pending or Processing;
* 401 for wrong tokens, 403 for entity types the token may not export;
* 429 with ``Retry-After`` (seconds or HTTP date) at a configurable rate and
  when a token passes 200 requests in 30 s; queued statuses (408, 5xx) for
  deterministic tests.

Exports move Pending → Processing → Success over configurable seconds (or
end Failed, stay Processing, or turn Expired) and have several JSONL parts
whose signed URLs expire after ``url_ttl``; every getAll signs new ones.

:meth:`MewsApi.track_changes` serves an entity type from records that change
on a simulated clock (:mod:`streamer.simulator.changes`): its exports are
snapshots of the versions inside ``Filters.UpdatedUtc``, and the "at least 5
minutes in the past" rule is judged by that clock.
"""

from __future__ import annotations

import email.utils
import random
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import orjson
from aiohttp import web

from streamer.providers.mews.requests import ENTITY_TYPES  # the documented list, one copy
from streamer.simulator.changes import ChangingRecords, SimClock, split_parts
from streamer.simulator.server import SimExport, Simulator

DEMO_CLIENT_TOKEN = "E0D439EE522F44368DC78E1BFB03710C-D24FB11DBE31D4621C4817E028D9E1D"
DEMO_ACCESS_TOKEN = "C66EF7B239D24632943D115EDE9CB810-EA00F8FD8294692C940F6B5A8F9453D"
BASE = "/api/connector/v1/exports"
DEFAULT_ENTERPRISES = [
    "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "8c2f0e1a-4b7d-4e2a-9f51-0d6b1c3e7a90",
    "d41e9b7c-2a53-4c8e-b6f0-71a5e2c9d384",
]


@dataclass
class MewsSimConfig:
    client_token: str = DEMO_CLIENT_TOKEN
    access_token: str = DEMO_ACCESS_TOKEN
    records: int | dict[str, int] = 1000
    """Records per export (or per entity type)."""
    parts: int = 3
    """JSONL files per export."""
    gzip: bool = False
    enterprises: list[str] = field(default_factory=lambda: list(DEFAULT_ENTERPRISES))
    """Enterprises of the portfolio (records spread over them) unless Scope narrows it."""
    pending_seconds: float = 0.2
    """Seconds an export stays Pending before Processing."""
    processing_seconds: float = 0.3
    """Seconds it then stays Processing before Success (or Failed)."""
    expires_after: float = 7 * 86400.0
    """Seconds after Success when an export turns Expired (``ExpiresUtc``)."""
    url_ttl: float | None = None
    """Lifetime of the file URLs; ``None``: the simulator's (600 s by default)."""
    fail_next: dict[str, int] = field(default_factory=dict)
    """Entity type → how many of its next exports end Failed."""
    expire_next: dict[str, int] = field(default_factory=dict)
    """Entity type → how many of its next exports go from Processing straight to
    Expired (as if nobody polled during their lifetime)."""
    stuck: set[str] = field(default_factory=set)
    """Entity types whose exports stay Processing forever (deadline tests)."""
    forbidden: set[str] = field(default_factory=set)
    """Entity types the token may not export (403)."""
    throttle_rate: float = 0.0
    """Probability of a 429 on any API call."""
    retry_after: float = 1.0
    retry_after_http_date: bool = False
    """Send ``Retry-After`` as an HTTP date instead of seconds."""
    statuses: deque[int] = field(default_factory=deque)
    """Statuses (408, 429, 500, 503, …) answered, in order, to the next API calls."""
    rate_limit: tuple[int, float] | None = (200, 30.0)
    """Server-side limit per access token: (requests, seconds), sliding window."""
    seed: int = 0
    clock: SimClock = field(default_factory=SimClock)
    """The API's notion of now: ``Filters.UpdatedUtc`` is checked against it."""


class MewsApi:
    """State and handlers of the simulated Mews API; reachable as ``sim.mews``."""

    def __init__(self, sim: Simulator, config: MewsSimConfig) -> None:
        self.sim = sim
        self.config = config
        self.exports: dict[str, SimExport] = {}
        """Exports created through ``exports/add``, by id."""
        self.calls: list[tuple[str, dict[str, Any]]] = []
        """(action, body without tokens) of every authenticated call, for tests."""
        self.rejected: list[tuple[str, int]] = []
        """(action, status) of every error answer."""
        self._rng = random.Random(config.seed)
        self._window: dict[str, deque[float]] = {}
        self.changes: dict[str, ChangingRecords] = {}
        """Entity type → records that change over time; its exports are snapshots filtered by UpdatedUtc."""

    @property
    def clock(self) -> SimClock:
        return self.config.clock

    def track_changes(self, entity_type: str, *, records: int = 500, **options: Any) -> ChangingRecords:
        """Serve ``entity_type`` from records that change as :meth:`ChangingRecords.advance` is called."""
        options.setdefault("enterprises", self.config.enterprises)
        dataset = ChangingRecords(entity_type, records=records, clock=self.clock, seed=self.config.seed, **options)
        self.changes[entity_type] = dataset
        return dataset

    # ---------------------------------------------------------------- status

    def status(self, export: SimExport) -> str:
        state = export.vendor
        if "created" not in state:
            return "Expired" if state.get("expired") else "Success"  # ready-made exports
        if state.get("expired"):
            return "Expired"
        age = time.monotonic() - state["created"]
        if age < self.config.pending_seconds:
            return "Pending"
        if state.get("stuck") or age < self.config.pending_seconds + self.config.processing_seconds:
            return "Processing"
        if state.get("fail"):
            return "Failed"
        done_for = age - self.config.pending_seconds - self.config.processing_seconds
        if state.get("expire_soon") or done_for > self.config.expires_after:
            state["expired"] = True
            return "Expired"
        return "Success"

    def expire(self, export_id: str) -> None:
        self.sim.exports[export_id].vendor["expired"] = True

    def fail(self, export_id: str) -> None:
        self.sim.exports[export_id].vendor["fail"] = True

    def describe(self, export: SimExport) -> dict[str, Any]:
        status = self.status(export)
        files: list[dict[str, Any]] = []
        expires = None
        if status == "Success":
            ttl = self.config.url_ttl
            files = [
                {"Url": self.sim.file_url(export, i, ttl), "SizeInBytes": export.file_size(i)}
                for i in range(len(export.files))
            ]
        if status in ("Success", "Expired"):
            created = export.vendor.get("created_utc", datetime.now(timezone.utc))
            expires = (created + timedelta(seconds=self.config.expires_after)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"Id": export.id, "Status": status, "EntityType": export.entity_type, "Files": files,
                "ExpiresUtc": expires}

    # -------------------------------------------------------------- handlers

    async def add(self, request: web.Request) -> web.Response:
        return await self._handle(request, "add", self._add)

    async def get_all(self, request: web.Request) -> web.Response:
        return await self._handle(request, "getAll", self._get_all)

    async def _handle(self, request: web.Request, action: str, operation: Any) -> web.Response:
        request_id = str(uuid.uuid4())
        try:
            body = await self._authenticate(request, action, request_id)
            self.calls.append((action, {k: v for k, v in body.items() if k not in ("ClientToken", "AccessToken")}))
            result = operation(body)
        except _Reject as reject:
            self.rejected.append((action, reject.status))
            return self._error(reject, request_id)
        return web.Response(
            body=orjson.dumps(result), content_type="application/json", headers={"Request-Id": request_id}
        )

    async def _authenticate(self, request: web.Request, action: str, request_id: str) -> dict[str, Any]:
        config = self.config
        if config.statuses:
            status = config.statuses.popleft()
            raise _Reject(status, _STATUS_MESSAGES.get(status, "Simulated failure."), retry_after=status == 429)
        if (failure := self.sim.fault_response()) is not None:  # the shared fault plan
            raise _Reject(failure.status, _STATUS_MESSAGES.get(failure.status, "Simulated failure."),
                          retry_after=failure.status == 429)
        if config.throttle_rate and self._rng.random() < config.throttle_rate:
            raise _Reject(429, _STATUS_MESSAGES[429], retry_after=True)
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            raise _Reject(400, "Request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise _Reject(400, "Request body must be a JSON object.")
        for name in ("ClientToken", "AccessToken", "Client"):
            if not isinstance(body.get(name), str) or not body[name]:
                raise _Reject(400, f"The {name} property is required.")
        if body["ClientToken"] != config.client_token or body["AccessToken"] != config.access_token:
            raise _Reject(401, "Invalid ClientToken or AccessToken.")
        self._count_request(body["AccessToken"])
        return body

    def _count_request(self, token: str) -> None:
        if self.config.rate_limit is None:
            return
        limit, window = self.config.rate_limit
        now = time.monotonic()
        sent = self._window.setdefault(token, deque())
        while sent and sent[0] <= now - window:
            sent.popleft()
        if len(sent) >= limit:
            wait = sent[0] + window - now
            raise _Reject(429, f"Request limit of {limit} requests per {window:g} s exceeded.",
                          retry_after=True, wait=max(1.0, wait))
        sent.append(now)

    def _add(self, body: dict[str, Any]) -> dict[str, Any]:
        entity = body.get("EntityType")
        if entity not in ENTITY_TYPES:
            raise _Reject(400, f"Invalid EntityType '{entity}'.", details={"EntityType": list(ENTITY_TYPES)})
        if entity in self.config.forbidden:
            raise _Reject(403, f"The access token has no permission to export {entity}.")
        enterprises = _check_scope(body.get("Scope"))
        updated = _check_filters(entity, body.get("Filters"), self.clock.now())
        for existing in self.exports.values():
            if existing.entity_type == entity and self.status(existing) in ("Pending", "Processing"):
                raise _Reject(400, f"An export of entity type {entity} is already Pending or Processing.")
        if entity in self.changes:  # a snapshot of the changing records, as the filter selects them
            lines = self.changes[entity].snapshot(*(updated or (None, None)), enterprises)
            export = SimExport(str(uuid.uuid4()), entity, split_parts(entity, lines, self.config.parts),
                               self.config.gzip)
            self.sim.exports[export.id] = export
        else:
            records = self.config.records
            count = records.get(entity, 1000) if isinstance(records, dict) else records
            export = self.sim.add_export(
                entity, records=count, parts=self.config.parts, gzip=self.config.gzip,
                enterprises=enterprises or self.config.enterprises, updated=updated,
            )
        state = export.vendor
        state.update(created=time.monotonic(), created_utc=datetime.now(timezone.utc), request=body)
        if self.config.fail_next.get(entity, 0) > 0:
            self.config.fail_next[entity] -= 1
            state["fail"] = True
        if self.config.expire_next.get(entity, 0) > 0:
            self.config.expire_next[entity] -= 1
            state["expire_soon"] = True
        if entity in self.config.stuck:
            state["stuck"] = True
        self.exports[export.id] = export
        return {"Export": self.describe(export)}

    def _get_all(self, body: dict[str, Any]) -> dict[str, Any]:
        ids = body.get("ExportIds")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise _Reject(400, "ExportIds must be a non-empty array of strings.")
        if len(ids) > 1000:
            raise _Reject(400, f"ExportIds has {len(ids)} items; the maximum is 1000.")
        found = [self.sim.exports[i] for i in dict.fromkeys(ids) if i in self.sim.exports]
        return {"Exports": [self.describe(e) for e in found]}

    def _error(self, reject: _Reject, request_id: str) -> web.Response:
        headers = {"Request-Id": request_id}
        if reject.retry_after:
            wait = reject.wait if reject.wait is not None else self.config.retry_after
            if self.config.retry_after_http_date:
                headers["Retry-After"] = email.utils.formatdate(time.time() + wait, usegmt=True)
            else:
                headers["Retry-After"] = str(int(round(wait)))
        payload = {"Message": reject.message, "RequestId": request_id, "Details": reject.details}
        return web.Response(status=reject.status, body=orjson.dumps(payload),
                            content_type="application/json", headers=headers)


class _Reject(Exception):
    def __init__(self, status: int, message: str, *, details: Any = None, retry_after: bool = False,
                 wait: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.retry_after = retry_after
        self.wait = wait


_STATUS_MESSAGES = {
    408: "The request took too long to process; request data in smaller batches.",
    429: "Too many requests; see Retry-After.",
    500: "An unexpected error occurred.",
    502: "Bad gateway.",
    503: "The service is temporarily unavailable.",
    504: "Gateway timeout.",
}


def _check_scope(scope: Any) -> list[str] | None:
    """The scoped enterprise ids (for the generated records), after validation."""
    if scope is None:
        return None
    if not isinstance(scope, dict):
        raise _Reject(400, "Scope must be an object.")
    keys = [k for k in ("EnterpriseIds", "ChainIds") if scope.get(k) is not None]
    if len(keys) != 1:
        raise _Reject(400, "Scope must contain exactly one of EnterpriseIds or ChainIds.")
    ids = scope[keys[0]]
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise _Reject(400, f"Scope.{keys[0]} must be a non-empty array of strings.")
    if len(ids) > 1000:
        raise _Reject(400, f"Scope.{keys[0]} has {len(ids)} items; the maximum is 1000.")
    return ids if keys[0] == "EnterpriseIds" else None


def _check_filters(entity: str, filters: Any, now: datetime) -> tuple[datetime, datetime] | None:
    """Validate ``Filters``; return the UpdatedUtc interval, if any."""
    if filters is not None and not isinstance(filters, dict):
        raise _Reject(400, "Filters must be an object.")
    filters = filters or {}
    updated = filters.get("UpdatedUtc")
    if updated is not None:
        if not isinstance(updated, dict):
            raise _Reject(400, "Filters.UpdatedUtc must be an object.")
        start, end = _utc(updated.get("StartUtc"), "StartUtc"), _utc(updated.get("EndUtc"), "EndUtc")
        if end > now - timedelta(minutes=5):
            raise _Reject(400, "Filters.UpdatedUtc.EndUtc must be at least 5 minutes in the past.")
        if start > end:
            raise _Reject(400, "Filters.UpdatedUtc.StartUtc must not be after EndUtc.")
        if end - start > timedelta(days=180):
            raise _Reject(400, "Filters.UpdatedUtc must not span more than 180 days.")
        interval = (start, end)
    else:
        interval = None
    if entity == "LedgerEntry":
        posting = (filters.get("LedgerEntryFilters") or {}).get("Posting")
        if not isinstance(posting, dict):
            raise _Reject(400, "Filters.LedgerEntryFilters.Posting is required for LedgerEntry exports.")
        try:
            start_day, end_day = date.fromisoformat(posting["Start"]), date.fromisoformat(posting["End"])
        except (KeyError, TypeError, ValueError):
            raise _Reject(400, "Filters.LedgerEntryFilters.Posting needs Start and End dates.") from None
        if start_day > end_day:
            raise _Reject(400, "Filters.LedgerEntryFilters.Posting.Start must not be after End.")
    return interval


def _utc(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise _Reject(400, f"Filters.UpdatedUtc.{name} is required.")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _Reject(400, f"Filters.UpdatedUtc.{name} is not an ISO 8601 date-time.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@web.middleware
async def _mews_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Unknown paths and wrong methods under the API answer in Mews's shape too."""
    if not request.path.startswith("/api/connector/"):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as exc:
        request_id = str(uuid.uuid4())
        payload = {"Message": exc.reason, "RequestId": request_id, "Details": None}
        return web.Response(status=exc.status, body=orjson.dumps(payload), content_type="application/json",
                            headers={"Request-Id": request_id})


def install(sim: Simulator, config: MewsSimConfig | None = None, **options: Any) -> MewsApi:
    """Mount the Mews exports API on ``sim`` (before it starts); returns its state (also ``sim.mews``)."""
    if config is None:
        config = MewsSimConfig(seed=sim.seed, **options)
    elif options:
        raise TypeError("pass either config= or individual options, not both")
    api = MewsApi(sim, config)
    sim.app.middlewares.append(_mews_errors)
    sim.app.router.add_post(f"{BASE}/add", api.add)
    sim.app.router.add_post(f"{BASE}/getAll", api.get_all)
    sim.mews = api  # type: ignore[attr-defined]
    return api
