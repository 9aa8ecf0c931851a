"""LogiSense Billing REST API v10 (``DataExport``) on the simulator.

Serves what seed 003 documents — JWT login, ``DataExport/Trigger``,
``DataExport/History`` (plain, ``Paged`` and by id), ``History/{id}/Download``
and ``History/{id}/Cancel`` — with a ``trackingId`` in every response body
(and an ``X-Tracking-Id`` header), statuses that move over time
(Pending → Processing → Complete), and download links that expire.

Where the links point is pluggable (``link_factory``): tests hand out boto3
presigned URLs of a real S3 implementation (moto); without one, the
simulator serves the CSV itself behind its own signed links that expire like
S3's (403 ``AccessDenied`` / "Request has expired") after ``link_ttl`` seconds
— 30 s, as LogiSense documents.

The CSV content is generated deterministically per history row, with quoted
fields holding commas, doubled quotes and newlines, so every decoder path is
exercised; each row has a unique ``rowId`` for exactly-once assertions.
"""

from __future__ import annotations

import csv
import inspect
import io
import random
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import orjson
from aiohttp import web

from streamer.simulator.server import Simulator
from streamer.simulator.signing import s3_error_xml

RESOURCE_PREFIX = "/ResourceServer/api/v10"
LOGIN_PATH = "/AuthorizationServer/api/v10/Access/Login"
FILE_PREFIX = "/logisense-s3"

STATUS_IDS = {"Pending": 1, "Processing": 2, "Complete": 3, "Failed": 4, "Cancelled": 5}
CSV_COLUMNS = (
    "rowId",
    "accountId",
    "accountName",
    "invoiceNumber",
    "amount",
    "currency",
    "description",
    "created",
)


def csv_export(history_id: int, rows: int, *, seed: int = 0, bom: bool = False, crlf: bool = True) -> bytes:
    """The CSV file of a history row: header + ``rows`` rows, deterministic per seed and id.

    Every 7th account name holds a comma, every 5th description a quoted
    newline and doubled quotes; ``crlf`` ends rows with ``\\r\\n`` as Excel-style
    exports do.
    """
    rng = random.Random(seed * 1_000_003 + history_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(CSV_COLUMNS)
    for i in range(rows):
        account = rng.randrange(1, 5000)
        name = f"Account {account}, Ltd." if i % 7 == 0 else f"Account {account}"
        if i % 5 == 0:
            description = f'Usage for "{rng.choice(["voice", "data", "sms"])}" plan\nline two, with comma'
        else:
            description = f"Monthly charge {rng.randrange(1, 100)}"
        writer.writerow(
            (
                row_id(history_id, i),
                account,
                name,
                f"INV-{history_id:05d}-{i:08d}",
                f"{rng.randrange(0, 10_000_000) / 100:.2f}",
                rng.choice(("USD", "CAD", "EUR")),
                description,
                f"2021-04-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
            )
        )
    data = buffer.getvalue().encode()
    return (b"\xef\xbb\xbf" + data) if bom else data


def row_id(history_id: int, index: int) -> str:
    return f"{history_id}-{index}"


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class SimHistory:
    """One DataExportHistory row and its file."""

    identity: int
    data_export_id: int
    name: str
    rows: int
    created: float = field(default_factory=time.time)
    pending_seconds: float = 0.0
    processing_seconds: float = 0.0
    outcome: str = "Complete"
    """Status reached after processing: ``Complete``, ``Failed`` or any other name."""
    running_name: str = "Processing"
    """Status name while processing (tests use names the client does not know)."""
    announced_rows: int | None = None
    """``exportRowCount`` to report when it should differ from the real rows (tests)."""
    bom: bool = False
    crlf: bool = True
    seed: int = 0
    cancelled_at: float | None = None
    storage_key: str = ""
    _content: bytes | None = None

    @property
    def content(self) -> bytes:
        if self._content is None:
            self._content = csv_export(self.identity, self.rows, seed=self.seed, bom=self.bom, crlf=self.crlf)
        return self._content

    def ids(self) -> list[str]:
        return [row_id(self.identity, i) for i in range(self.rows)]

    def status(self, now: float | None = None) -> tuple[str, float | None]:
        """(status name, completion time or ``None``) at ``now``."""
        now = time.time() if now is None else now
        if self.cancelled_at is not None:
            return "Cancelled", self.cancelled_at
        ready = self.created + self.pending_seconds + self.processing_seconds
        if now >= ready:
            return self.outcome, ready
        if now >= self.created + self.pending_seconds:
            return self.running_name, None
        return "Pending", None

    def document(self) -> dict[str, Any]:
        status, complete = self.status()
        done = complete is not None and status not in ("Failed", "Cancelled")
        return {
            "identity": self.identity,
            "dataExportId": self.data_export_id,
            "dataExportName": self.name,
            "created": _iso(self.created),
            "start": _iso(self.created + self.pending_seconds),
            "complete": _iso(complete),
            "dataExportHistoryStatusTypeId": STATUS_IDS.get(status, 99),
            "dataExportHistoryStatusTypeName": status,
            "storageLocationId": 1,
            "storageLocationName": "S3",
            "storageKey": self.storage_key,
            "exportRowCount": (self.rows if self.announced_rows is None else self.announced_rows) if done else 0,
            "createdByUserId": 1,
            "createdByUserName": "api",
            "parameters": "",
            "transferLocationId": 0,
            "transferLocationName": "",
            "fileMoveLogIdentity": 0,
        }


TRACKING = web.RequestKey("logisense_tracking", str)
"""The trackingId of the request being answered."""

LinkFactory = Callable[[SimHistory], "str | Awaitable[str]"]


class LogisenseApi:
    """The simulated tenant: users, tokens, history rows and request counters."""

    def __init__(
        self,
        sim: Simulator,
        *,
        username: str = "demo",
        password: str = "demo-password",
        client_id: str = "streamer",
        client_secret: str = "demo-secret",
        token_ttl: float = 1800.0,
        link_ttl: float = 30.0,
        link_factory: LinkFactory | None = None,
        rows_per_export: int = 5000,
        pending_seconds: float = 0.2,
        processing_seconds: float = 0.5,
        seed: int | None = None,
    ) -> None:
        self.sim = sim
        self.username, self.password = username, password
        self.client_id, self.client_secret = client_id, client_secret
        self.token_ttl = token_ttl
        self.link_ttl = link_ttl
        self.link_factory = link_factory or self.builtin_link
        self.rows_per_export = rows_per_export
        self.pending_seconds = pending_seconds
        self.processing_seconds = processing_seconds
        self.seed = sim.seed if seed is None else seed
        self.history: dict[int, SimHistory] = {}
        self.tokens: dict[str, float] = {}
        """Access token → expiry (``time.time()``)."""
        self.refresh_tokens: set[str] = set()
        self.logins: list[str] = []
        self.login_fields: list[tuple[str, ...]] = []
        """The form field names of every token request (accepted or not), for tests of the login form."""
        """Every successful token request: its grant type (``password (client secret)`` for the docs' Option 2)."""
        self.calls: list[tuple[str, str, str]] = []
        """(method, path and query relative to the resource prefix, trackingId) of every API call."""
        self.trigger_bodies: list[Any] = []
        self.cancelled: list[int] = []
        self.downloads: dict[int, int] = {}
        """History id → links handed out."""
        self._next_id = 100

    # ----------------------------------------------------------- test knobs

    def add_history(
        self,
        rows: int | None = None,
        *,
        data_export_id: int = 1,
        name: str = "Invoices",
        ready: bool = True,
        **options: Any,
    ) -> SimHistory:
        """A history row; ``ready=False`` makes it go through Pending/Processing first."""
        self._next_id += 1
        if not ready:
            options.setdefault("pending_seconds", self.pending_seconds)
            options.setdefault("processing_seconds", self.processing_seconds)
        history = SimHistory(
            identity=self._next_id,
            data_export_id=data_export_id,
            name=name,
            rows=self.rows_per_export if rows is None else rows,
            seed=self.seed,
            storage_key=f"exports/{data_export_id}/{self._next_id}.csv",
            **options,
        )
        self.history[history.identity] = history
        return history

    def revoke_tokens(self) -> None:
        """Invalidate every access token (a server-side logout): next call gets 401."""
        self.tokens.clear()

    # ---------------------------------------------------------------- links

    def builtin_link(self, history: SimHistory) -> str:
        path = f"{FILE_PREFIX}/{history.identity}.csv"
        return f"{self.sim.base_url}{path}?{self.sim.signer.query(path, self.link_ttl)}"

    # ------------------------------------------------------------- handlers

    def _json(self, body: dict[str, Any], tracking: str, status: int = 200) -> web.Response:
        body = {"trackingId": tracking, **body}
        return web.Response(
            status=status,
            body=orjson.dumps(body),
            content_type="application/json",
            headers={"X-Tracking-Id": tracking},
        )

    def _error(self, status: int, message: str, tracking: str) -> web.Response:
        return self._json({"message": message, "errors": [{"code": status, "message": message}]}, tracking, status)

    async def login(self, request: web.Request) -> web.Response:
        tracking = str(uuid.uuid4())
        form = await request.post()
        self.login_fields.append(tuple(sorted(form)))
        grant = form.get("grant_type")
        ok = False
        login = str(grant)
        if grant == "password" and "client_secret" in form and "username" not in form:
            # The docs' "Option 2": a client logs in with its secret through the password grant.
            ok = form.get("client_id") == self.client_id and form.get("client_secret") == self.client_secret
            login = "password (client secret)"
        elif grant == "password":
            ok = (
                form.get("username") == self.username
                and form.get("password") == self.password
                and form.get("client_id") == self.client_id
            )
        elif grant == "refresh_token":
            token = str(form.get("refresh_token") or "")
            ok = token in self.refresh_tokens
            if ok:
                self.refresh_tokens.discard(token)  # refresh tokens rotate
        else:  # client_credentials included: not a grant LogiSense documents
            return self._json(
                {"error": "unsupported_grant_type", "error_description": f"grant_type {grant!r} is not supported"},
                tracking,
                400,
            )
        if not ok:
            return self._json({"error": "invalid_grant", "error_description": "bad credentials"}, tracking, 400)
        self.logins.append(login)
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self.tokens[access] = time.time() + self.token_ttl
        self.refresh_tokens.add(refresh)
        return self._json(
            {
                "access_token": access,
                "token_type": "bearer",
                "expires_in": self.token_ttl,
                "refresh_token": refresh,
            },
            tracking,
        )

    @web.middleware
    async def guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Bearer check, fault plan and call log for every resource endpoint."""
        if not request.path.startswith(RESOURCE_PREFIX + "/"):
            return await handler(request)
        tracking = str(uuid.uuid4())
        request[TRACKING] = tracking
        self.calls.append((request.method, request.path_qs[len(RESOURCE_PREFIX) + 1 :], tracking))
        if (failure := self.sim.fault_response()) is not None:
            failure.headers["X-Tracking-Id"] = tracking
            return failure
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        expiry = self.tokens.get(token)
        if expiry is None or time.time() > expiry:
            return self._error(401, "Authorization has been denied for this request.", tracking)
        return await handler(request)

    def _history_or_404(self, request: web.Request) -> SimHistory | web.Response:
        try:
            history = self.history.get(int(request.match_info["id"]))
        except ValueError:
            history = None
        if history is None:
            return self._error(404, f"DataExportHistory {request.match_info['id']} not found", request[TRACKING])
        return history

    async def trigger(self, request: web.Request) -> web.Response:
        tracking = request[TRACKING]
        try:
            body = await request.json(loads=orjson.loads) if request.can_read_body else {}
        except ValueError:
            return self._error(400, "request body is not JSON", tracking)
        self.trigger_bodies.append(body)
        export_id = body.get("dataExportId", body.get("identity")) if isinstance(body, dict) else None
        if not isinstance(export_id, int):
            return self._error(400, "dataExportId is required", tracking)
        history = self.add_history(data_export_id=export_id, name=f"DataExport {export_id}", ready=False)
        return self._json(
            {"type": "create", "results": {"totalCount": 1, "items": [history.document()]}}, tracking
        )

    async def list_history(self, request: web.Request) -> web.Response:
        items = [h.document() for h in self.history.values()]
        return self._json({"totalCount": len(items), "items": items}, request[TRACKING])

    async def paged_history(self, request: web.Request) -> web.Response:
        tracking = request[TRACKING]
        try:
            number = int(request.query.get("pageNumber", "1"))
            size = int(request.query.get("pageSize", "20"))
        except ValueError:
            return self._error(400, "pageNumber and pageSize must be integers", tracking)
        if number < 1 or not 1 <= size <= 1000:
            return self._error(400, "pageNumber must be ≥ 1 and pageSize within 1..1000", tracking)
        exclude = request.query.get("excludeTotalCount", "false").lower() == "true"
        rows = sorted(self.history.values(), key=lambda h: h.identity, reverse=True)  # newest first
        page = rows[(number - 1) * size : number * size]
        results: dict[str, Any] = {"items": [h.document() for h in page]}
        if not exclude:
            results["totalCount"] = len(rows)
        return self._json(
            {
                "pagination": {"pageNumber": number, "pageSize": size, "excludeTotalCount": exclude},
                "pagedResults": results,
            },
            tracking,
        )

    async def get_history(self, request: web.Request) -> web.Response:
        history = self._history_or_404(request)
        if isinstance(history, web.Response):
            return history
        return self._json({"instance": history.document()}, request[TRACKING])

    async def download(self, request: web.Request) -> web.Response:
        history = self._history_or_404(request)
        if isinstance(history, web.Response):
            return history
        status, complete = history.status()
        if complete is None or status in ("Failed", "Cancelled"):
            return self._error(
                400, f"DataExportHistory {history.identity} is {status}; no file to download", request[TRACKING]
            )
        link = self.link_factory(history)
        if inspect.isawaitable(link):
            link = await link
        self.downloads[history.identity] = self.downloads.get(history.identity, 0) + 1
        return self._json({"instance": {**history.document(), "link": link}}, request[TRACKING])

    async def cancel(self, request: web.Request) -> web.Response:
        history = self._history_or_404(request)
        if isinstance(history, web.Response):
            return history
        _, complete = history.status()
        if complete is None:
            history.cancelled_at = time.time()
        self.cancelled.append(history.identity)
        return self._json(
            {"type": "create", "results": {"totalCount": 1, "items": [history.document()]}}, request[TRACKING]
        )

    async def file(self, request: web.Request) -> web.StreamResponse:
        """The built-in "S3" for the CSV files: signed, expiring, ranged, streamed."""
        if (rejected := self.sim.check_signature(request)) is not None:
            return rejected
        if (failure := self.sim.fault_response()) is not None:
            return failure
        history = self.history.get(int(request.match_info["id"]))
        if history is None:
            return web.Response(
                status=404, body=s3_error_xml("NoSuchKey", "The specified key does not exist.", uuid.uuid4().hex)
            )
        data = history.content
        response, start, end = self.sim.file_response(
            request, size=len(data), etag=f'"{history.identity:x}-{len(data):x}"', content_type="text/csv"
        )
        view = memoryview(data)
        pieces = (view[i : min(end, i + 65536)] for i in range(start, end, 65536))
        return await self.sim.send_file(request, response, f"logisense/{history.identity}", pieces, start)


def install(sim: Simulator, **options: Any) -> LogisenseApi:
    """Mount the LogiSense API on ``sim`` (before it starts); return its state.

    Ready-made for ``streamer simulate``: two completed history rows
    (DataExportHistory 101 and 102) and any DataExport id can be triggered.
    Options go to :class:`LogisenseApi`; ``ready_made=False`` skips the rows.
    """
    ready_made = options.pop("ready_made", True)
    api = LogisenseApi(sim, **options)
    sim.app[LOGISENSE] = api
    sim.app.middlewares.append(api.guard)
    router = sim.app.router
    router.add_post(LOGIN_PATH, api.login)
    base = RESOURCE_PREFIX
    router.add_post(f"{base}/DataExport/Trigger", api.trigger)
    router.add_get(f"{base}/DataExport/History", api.list_history)
    router.add_get(f"{base}/DataExport/History/", api.list_history)
    router.add_get(f"{base}/DataExport/History/Paged", api.paged_history)
    router.add_get(f"{base}/DataExport/History/{{id}}", api.get_history)
    router.add_get(f"{base}/DataExport/History/{{id}}/Download", api.download)
    router.add_post(f"{base}/DataExport/History/{{id}}/Cancel", api.cancel)
    router.add_get(f"{FILE_PREFIX}/{{id:\\d+}}.csv", api.file)
    if ready_made:
        api.add_history(data_export_id=7, name="Invoices")
        api.add_history(data_export_id=8, name="Usage")
    return api


LOGISENSE = web.AppKey("logisense", LogisenseApi)
"""Where :func:`install` keeps the API state: ``sim.app[LOGISENSE]``."""
