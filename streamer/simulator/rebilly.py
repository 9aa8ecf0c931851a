"""Rebilly's data-export API, simulated: the shapes of its OpenAPI, its statuses, links and errors.

Routes (under ``/organizations/{organizationId}``, for both the
``/experimental/data-exports`` prefix of the spec and plain ``/data-exports``):

* ``POST /data-exports`` → 201 + ``Location``; 422 problem with
  ``invalidFields`` for an invalid body (the resources and their formats of
  :mod:`streamer.providers.rebilly.catalog`, ``name`` ≤ 50 characters), or ``data-export-limit-exceeded``
  (with ``matchedRecords``/``maxRecords``) above :attr:`RebillySim.max_records`;
* ``GET /data-exports/{id}`` → the DataExport; each GET moves it one step
  along :attr:`RebillySim.timeline` (pending → queued → processing →
  completed, or → failed with ``failureReason``);
* ``GET /data-exports?limit&offset&filter&sort`` → a page, with
  ``Pagination-Total/Limit/Offset``; ``offset`` and ``limit`` above 1000
  → 422 (the spec's ``maximum``), ``sort`` by ``createdTime`` (or
  ``-createdTime``), filters ``field:a,b`` and ranges ``createdTime:A..B``;
* ``?expand=file`` embeds the File resource in ``_embedded.file`` (links
  knob ``"embedded"``);
* ``GET /files/{fileId}/download`` → 302 to a signed, expiring URL
  ``/rebilly-files/{fileId}?expires&sig`` served here with ``Range``,
  ``ETag`` and the shared fault plan (an expired link → 403, as S3 does).

Every API call may be throttled: 429 with an RFC 7807 body and
``X-RateLimit-Retry-After`` as an integer UTC epoch timestamp, as the spec
documents it.  The export file holds generated ``transactions`` or
``customers`` records as csv, json (an array) or json-api (a document whose
``meta`` comes before ``data``, so clients must skip it); more than
:attr:`RebillySim.zip_threshold` records become a ZIP of parts.
"""

from __future__ import annotations

import csv
import io
import math
import random
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from aiohttp import web

from streamer.simulator.changes import ChangingRecords, SimClock
from streamer.providers.rebilly.catalog import FORMATS as CATALOG_FORMATS
from streamer.providers.rebilly.catalog import LIMIT_MAX, NAME_MAX_LENGTH, OFFSET_MAX
from streamer.providers.rebilly.catalog import RESOURCES as CATALOG
from streamer.simulator.server import Simulator

PREFIXES = ("/experimental/data-exports", "/data-exports")
FORMATS = CATALOG_FORMATS
RESOURCES = tuple(CATALOG)
PROBLEM_BASE = "https://www.rebilly.com/catalog/all/section/errors/"
EPOCH = datetime(2025, 1, 1, tzinfo=timezone.utc)


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class RebillyExport:
    """One simulated data export and its file (built once, when first needed)."""

    id: str
    body: dict[str, Any]
    records: int
    timeline: list[str]
    failure_reason: str | None = None
    polls: int = 0
    created: str = field(default_factory=lambda: _utc(datetime.now(timezone.utc)))
    file_id: str = field(default_factory=lambda: f"file-{uuid.uuid4().hex[:20]}")
    content: bytes | None = None
    zipped: bool = False
    ids: list[str] = field(default_factory=list)
    """Record ids in file order (for exactly-once assertions)."""
    snapshot: list[dict[str, Any]] | None = None
    """The records, when taken from changing records (:meth:`RebillySim.track_changes`)."""
    generated: int | None = None
    """How many records were generated before ``dateRange`` on ``updatedTime`` kept ``records`` of them."""

    @property
    def status(self) -> str:
        return self.timeline[min(self.polls, len(self.timeline) - 1)]

    @property
    def format(self) -> str:
        return str(self.body["format"])

    @property
    def resource(self) -> str:
        return str(self.body["resource"])


@dataclass(eq=False, repr=False)
class RebillySim:
    """State and knobs of the simulated Rebilly API (``sim.rebilly`` after :func:`install`)."""

    sim: Simulator
    _: KW_ONLY
    api_key: str = "sim-rebilly-secret-key"
    jwt: str = "sim.rebilly.jwt-token"
    records: int = 1000
    """Records of an export created through the API."""
    timeline: dict[str, int] = field(default_factory=lambda: {"pending": 1, "queued": 1, "processing": 1})
    """GETs an export spends in each in-progress status before completing."""
    zip_threshold: int = 1_000_000
    zip_part_records: int | None = None
    """Records per ZIP member (default: ``zip_threshold``)."""
    zip_streamed: bool = False
    """Write ZIPs as a streaming writer does: sizes in data descriptors (flag bit 3)."""
    max_records: int = 10_000_000
    throttle_rate: float = 0.0
    throttle_first: int = 0
    """The next N API calls get 429 (deterministic, for tests)."""
    retry_after: int = 1
    links: tuple[str, ...] = ("download", "signedLink")
    """Which download links a completed export carries: ``download``, ``signedLink``, ``fileId``,
    ``embedded`` (``_embedded.file``, when the GET asks for ``expand=file``)."""
    url_ttl: float | None = None
    seed: int = 0
    fail_next: str | None = field(default=None, init=False)
    """``failureReason`` for the next created export (which then fails)."""
    exports: dict[str, RebillyExport] = field(default_factory=dict, init=False)
    requests: list[dict[str, Any]] = field(default_factory=list, init=False)
    """Every API request: method, path, query, headers, JSON body (for spec checks in tests)."""
    responses: list[dict[str, Any]] = field(default_factory=list, init=False)
    """Every API response: method, route, status, headers, JSON body."""
    throttled: int = field(default=0, init=False)
    clock: SimClock = field(default_factory=SimClock, init=False)
    changes: dict[str, ChangingRecords] = field(default_factory=dict, init=False)
    """Resource → records that change over time; exports honour ``dateRange`` on ``updatedTime``."""

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def track_changes(self, resource: str, *, records: int = 200, **options: Any) -> ChangingRecords:
        """Serve ``resource`` from records that change as the returned object's ``advance`` is called."""
        make = BUILDERS.get(resource, _transaction)
        dataset = ChangingRecords(resource, records=records, clock=self.clock, seed=self.seed,
                                  builder=lambda rng: make(rng, 0), fields=("id", "createdTime", "updatedTime"),
                                  **options)
        self.changes[resource] = dataset
        return dataset

    # --------------------------------------------------------------- exports

    def add_export(
        self,
        resource: str = "transactions",
        format: str = "csv",
        *,
        records: int | None = None,
        name: str | None = None,
        status: str = "completed",
        failure_reason: str | None = None,
        fields: list[str] | None = None,
        created: datetime | None = None,
    ) -> RebillyExport:
        """An export that already exists (for attach and list modes)."""
        body: dict[str, Any] = {"name": name or f"{resource} export", "format": format, "resource": resource}
        if fields:
            body["fields"] = fields
        timeline = ["failed"] if failure_reason else [status]
        export = RebillyExport(
            id=str(uuid.uuid4()),
            body=body,
            records=self.records if records is None else records,
            timeline=timeline,
            failure_reason=failure_reason,
        )
        if created is not None:
            export.created = _utc(created)
        self.exports[export.id] = export
        return export

    def _create(self, body: dict[str, Any]) -> RebillyExport:
        steps = [s for s, n in self.timeline.items() for _ in range(n)]
        final = "failed" if self.fail_next else "completed"
        export = RebillyExport(
            id=str(uuid.uuid4()),
            body=body,
            records=self.records,
            timeline=[*steps, final],
            failure_reason=self.fail_next,
        )
        self.fail_next = None
        if export.resource in self.changes:
            export.snapshot = self.changes[export.resource].select(*_date_range(body))
            export.records = len(export.snapshot)
        elif _date_range(body) != (None, None):  # only the generated records changed in the range
            export.generated = export.records
            export.records = _in_range_count(export, self.seed, export.records)
        self.exports[export.id] = export
        return export

    def content(self, export: RebillyExport) -> bytes:
        if export.content is None:
            export.content, export.ids, export.zipped = build_file(
                export, threshold=self.zip_threshold, part_records=self.zip_part_records,
                streamed=self.zip_streamed, seed=self.seed,
            )
        return export.content

    # ------------------------------------------------------------- rendering

    def resource_json(self, request: web.Request, export: RebillyExport, prefix: str) -> dict[str, Any]:
        root = f"{self.sim.base_url}/organizations/{request.match_info['org']}"
        status = export.status
        doc: dict[str, Any] = {"id": export.id, **export.body}
        doc.update(
            userId="usr-simulated",
            scheduledTime=export.created,
            createdTime=export.created,
            updatedTime=_utc(datetime.now(timezone.utc)),
            status=status,
        )
        links = [{"rel": "self", "href": f"{root}{prefix}/{export.id}"}, {"rel": "user", "href": f"{root}/users/usr-simulated"}]
        if status == "completed":
            doc["recordCount"] = export.records
            if "download" in self.links:
                links.append({"rel": "download", "href": f"{root}/files/{export.file_id}/download"})
            if "signedLink" in self.links:
                links.append({"rel": "signedLink", "href": self.signed_url(export)})
            if "fileId" in self.links:
                doc["fileId"] = export.file_id
            if "embedded" in self.links and "file" in request.query.get("expand", "").split(","):
                doc["_embedded"] = {"file": self.file_json(export)}
        if status == "failed":
            doc["failureReason"] = export.failure_reason
        doc["_links"] = links
        return doc

    def file_json(self, export: RebillyExport) -> dict[str, Any]:
        """The File resource that ``expand=file`` embeds (its id is what a client needs)."""
        ext = {"json-api": "json", "detailed-csv": "csv"}.get(export.format, export.format)
        return {"id": export.file_id, "name": f"{export.id}.{ext}", "extension": ext, "createdTime": export.created}

    def signed_url(self, export: RebillyExport) -> str:
        path = f"/rebilly-files/{export.file_id}"
        ttl = self.url_ttl if self.url_ttl is not None else self.sim.url_ttl
        return f"{self.sim.base_url}{path}?{self.sim.signer.query(path, ttl)}"


# ------------------------------------------------------------------ records


def _transaction(rng: random.Random, i: int) -> dict[str, Any]:
    created = EPOCH + timedelta(seconds=rng.randrange(300 * 86400))
    currency = rng.choice(("USD", "EUR", "GBP", "CAD"))
    return {
        "id": "",
        "customerId": f"cus_{rng.getrandbits(40):010x}",
        "type": rng.choice(("sale", "authorize", "capture", "refund")),
        "result": rng.choice(("approved", "declined", "abandoned")),
        "status": rng.choice(("completed", "pending", "voided")),
        "amount": round(rng.uniform(1, 999), 2),
        "currency": currency,
        "gatewayName": rng.choice(("Stripe", "Adyen", "Paysafe", "TestProcessor")),
        "description": rng.choice(("Order [#12] {gift}", 'He said "hi", then left', "plain", "a},{b\\c")),
        "createdTime": _utc(created),
        "processedTime": _utc(created + timedelta(seconds=rng.randrange(60))),
        "updatedTime": _updated_after(created),
        "billingAddress": {"firstName": "Ann", "lastName": "Lee", "country": rng.choice(("US", "CA", "DE"))},
        "items": [{"sku": f"sku-{rng.randrange(100)}", "quantity": rng.randint(1, 3)} for _ in range(rng.randint(0, 3))],
    }


def _customer(rng: random.Random, i: int) -> dict[str, Any]:
    created = EPOCH + timedelta(seconds=rng.randrange(300 * 86400))
    first = rng.choice(("Ann", "Bo", "Chen", "Dara", "Eli"))
    return {
        "id": "",
        "email": f"{first.lower()}{rng.randrange(10_000)}@example.com",
        "firstName": first,
        "lastName": rng.choice(("Lee", "Smith", "O'Brien", "Novak")),
        "createdTime": _utc(created),
        "updatedTime": _updated_after(created),
        "tags": rng.sample(["vip", "trial", "churn-risk", "b2b"], 2),
        "primaryAddress": {"country": rng.choice(("US", "CA", "DE")), "city": "Springfield"},
    }


def _updated_after(created: datetime) -> str:
    """A change time up to 30 days after ``created``, derived from it (no draw: the seeded records stay as they were)."""
    return _utc(created + timedelta(seconds=int(created.timestamp()) * 2654435761 % (30 * 86400)))


BUILDERS = {"transactions": _transaction, "customers": _customer}
TEMPLATES = 64


def _date_range(body: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    """The ``dateRange`` on ``updatedTime`` of a request (anything else selects every change).

    Relative dates (``yesterday``, ``-30 days``) are not interpreted by the simulator: they select everything.
    """
    window = body.get("dateRange")
    if not isinstance(window, dict) or window.get("field") != "updatedTime":
        return None, None
    try:
        start, end = (datetime.fromisoformat(str(window[k]).replace("Z", "+00:00")) for k in ("start", "end"))
    except (KeyError, ValueError):
        return None, None
    return (start if start.tzinfo else start.replace(tzinfo=timezone.utc),
            end if end.tzinfo else end.replace(tzinfo=timezone.utc))


def _templates(export: RebillyExport, seed: int) -> tuple[list[dict[str, Any]], list[bool]]:
    """The export's distinct records, and which of them its ``dateRange`` on ``updatedTime`` keeps."""
    builder = BUILDERS.get(export.resource, _transaction)
    rng = random.Random(f"{seed}/{export.id}")
    templates = [builder(rng, t) for t in range(TEMPLATES)]
    start, end = _date_range(export.body)
    if start is None or end is None:
        return templates, [True] * TEMPLATES
    low, high = (_utc(moment.astimezone(timezone.utc)) for moment in (start, end))
    return templates, [low <= t.get("updatedTime", "") <= high for t in templates]


def _in_range_count(export: RebillyExport, seed: int, records: int) -> int:
    """How many of the first ``records`` generated records the export's ``dateRange`` keeps (arithmetic)."""
    _, kept = _templates(export, seed)
    full, rest = divmod(records, TEMPLATES)
    return full * sum(kept) + sum(kept[(i * 37) % TEMPLATES] for i in range(rest))


def _records(export: RebillyExport, seed: int) -> Iterator[dict[str, Any]]:
    if export.snapshot is not None:
        yield from export.snapshot
        return
    templates, kept = _templates(export, seed)
    wanted = export.body.get("fields")
    prefix = export.id[:8]
    for i in range(export.generated if export.generated is not None else export.records):
        if not kept[(i * 37) % TEMPLATES]:
            continue
        record = dict(templates[(i * 37) % TEMPLATES])
        record["id"] = f"{prefix}-{i:09d}"
        if wanted:
            record = {k: record.get(k) for k in ["id", *[f for f in wanted if f != "id"]]}
        yield record


def _csv_value(value: Any) -> Any:
    return orjson.dumps(value).decode() if isinstance(value, (dict, list)) else value


def render(records: list[dict[str, Any]], fmt: str, resource: str) -> bytes:
    if fmt in ("csv", "detailed-csv"):
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        if records:
            columns = list(records[0])
            writer.writerow(columns)
            writer.writerows([_csv_value(r.get(c)) for c in columns] for r in records)
        return out.getvalue().encode()
    if fmt == "json":
        return orjson.dumps(records, option=orjson.OPT_INDENT_2)
    if fmt == "json-api":
        data = [
            {"type": resource, "id": r["id"], "attributes": {k: v for k, v in r.items() if k != "id"}}
            for r in records
        ]
        return orjson.dumps({"meta": {"total": len(data), "note": "] } [ {"}, "data": data, "links": {"self": None}})
    if fmt == "xml":
        rows = "".join(f"<{resource[:-1]} id=\"{r['id']}\"/>" for r in records)
        return f'<?xml version="1.0"?><{resource}>{rows}</{resource}>'.encode()
    return b"%PDF-1.4\n% simulated\n%%EOF\n"


class _Unseekable(io.RawIOBase):
    """A write-only stream: makes ``zipfile`` write data descriptors, as streaming writers do."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.data += b
        return len(b)


def build_file(
    export: RebillyExport, *, threshold: int, part_records: int | None, streamed: bool, seed: int
) -> tuple[bytes, list[str], bool]:
    """The export's file: (bytes, record ids in file order, is it a ZIP)."""
    records = list(_records(export, seed))
    ids = [r["id"] for r in records]
    fmt = export.format
    if len(records) <= threshold:
        return render(records, fmt, export.resource), ids, False
    per = part_records or threshold
    ext = {"json-api": "json", "detailed-csv": "csv"}.get(fmt, fmt)
    sink: Any = _Unseekable() if streamed else io.BytesIO()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for k in range(math.ceil(len(records) / per)):
            body = render(records[k * per : (k + 1) * per], fmt, export.resource)
            name = f"{export.body.get('name', 'export')}-{k + 1}.{ext}".replace("/", "_")
            if streamed:
                with archive.open(name, "w") as member:
                    member.write(body)
            else:
                archive.writestr(name, body)
    data = bytes(sink.data) if streamed else sink.getvalue()
    return data, ids, True


# ------------------------------------------------------------------ routes


def install(sim: Simulator, **options: Any) -> RebillySim:
    """Mount the Rebilly routes on ``sim`` (before it starts); state lives on ``sim.rebilly``."""
    state = RebillySim(sim, **options)
    sim.rebilly = state  # type: ignore[attr-defined]
    handlers = _Handlers(state)
    router = sim.app.router
    for prefix in PREFIXES:
        base = "/organizations/{org}" + prefix
        router.add_post(base, handlers.wrap(handlers.create, prefix))
        router.add_get(base, handlers.wrap(handlers.list, prefix))
        router.add_get(base + "/{id}", handlers.wrap(handlers.get, prefix))
    router.add_get("/organizations/{org}/files/{file_id}/download", handlers.wrap(handlers.download, ""))
    router.add_get("/rebilly-files/{file_id}", handlers.file)
    return state


def problem(status: int, title: str, detail: str, kind: str | None = None, **extra: Any) -> web.Response:
    body = {"type": kind or PROBLEM_BASE + title.lower().replace(" ", "-"), "title": title, "status": status, "detail": detail, **extra}
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/problem+json")


class _Handlers:
    def __init__(self, state: RebillySim) -> None:
        self.state = state

    def wrap(self, handler: Any, prefix: str) -> Any:
        state = self.state

        async def wrapped(request: web.Request) -> web.StreamResponse:
            raw = await request.read()
            try:
                body = orjson.loads(raw) if raw else None
            except orjson.JSONDecodeError:
                body = raw.decode("utf-8", "replace")
            state.requests.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "query": dict(request.query),
                    "headers": dict(request.headers),
                    "body": body,
                    "prefix": prefix,
                    "operation": handler.__name__,
                }
            )
            response = self._gate(request) or await handler(request, prefix, body)
            state.responses.append(
                {
                    "method": request.method,
                    "operation": handler.__name__,
                    "status": response.status,
                    "headers": dict(response.headers),
                    "body": orjson.loads(response.body) if isinstance(response, web.Response) and response.body and response.content_type.endswith("json") else None,
                }
            )
            return response

        return wrapped

    def _gate(self, request: web.Request) -> web.Response | None:
        """Authentication, then the rate limit."""
        state = self.state
        key = request.headers.get("REB-APIKEY")
        bearer = request.headers.get("Authorization", "")
        if not (key == state.api_key or bearer == f"Bearer {state.jwt}"):
            body = {"status": 401, "error": "Unauthorized", "title": "Unauthorized", "type": PROBLEM_BASE + "unauthorized"}
            return web.Response(status=401, body=orjson.dumps(body), content_type="application/json")
        throttle = state.throttle_first > 0 or (state.throttle_rate and state._rng.random() < state.throttle_rate)
        if throttle:
            state.throttle_first = max(0, state.throttle_first - 1)
            state.throttled += 1
            reset = math.ceil(time.time()) + state.retry_after
            response = problem(429, "Too Many Requests", "The organization's request rate limit is exceeded.")
            response.headers["X-RateLimit-Limit"] = "1000"
            response.headers["X-RateLimit-Remaining"] = "0"
            response.headers["X-RateLimit-Retry-After"] = str(reset)
            return response
        if (failure := state.sim.fault_response()) is not None:  # the shared plan's random 429/503
            return failure
        return None

    async def create(self, request: web.Request, prefix: str, body: Any) -> web.Response:
        invalid = _validate(body)
        if invalid:
            return problem(422, "Invalid data", "The data export request is invalid.", PROBLEM_BASE + "invalid-data", invalidFields=invalid)
        state = self.state
        if state.records > state.max_records:
            return problem(
                422,
                "Data export limit exceeded",
                f"The export matches {state.records} records; at most {state.max_records} can be exported at once.",
                "data-export-limit-exceeded",
                matchedRecords=state.records,
                maxRecords=state.max_records,
            )
        export = state._create(body)
        doc = state.resource_json(request, export, prefix)
        location = doc["_links"][0]["href"]
        return web.Response(status=201, body=orjson.dumps(doc), content_type="application/json", headers={"Location": location})

    async def get(self, request: web.Request, prefix: str, body: Any) -> web.Response:
        export = self.state.exports.get(request.match_info["id"])
        if export is None:
            return problem(404, "Not Found", f"Data export {request.match_info['id']} was not found.")
        doc = self.state.resource_json(request, export, prefix)
        export.polls += 1
        return web.Response(body=orjson.dumps(doc), content_type="application/json")

    async def list(self, request: web.Request, prefix: str, body: Any) -> web.Response:
        try:
            limit = int(request.query.get("limit", "100"))
            offset = int(request.query.get("offset", "0"))
        except ValueError:
            return problem(422, "Invalid data", "limit and offset must be integers", invalidFields=[{"field": "limit", "message": "not an integer"}])
        invalid = []
        if not 0 <= limit <= LIMIT_MAX:
            invalid.append({"field": "limit", "message": f"must be between 0 and {LIMIT_MAX}"})
        if not 0 <= offset <= OFFSET_MAX:  # collectionOffset: maximum 1000
            invalid.append({"field": "offset", "message": f"must be between 0 and {OFFSET_MAX}"})
        if invalid:
            return problem(422, "Invalid data", "The collection parameters are invalid.", PROBLEM_BASE + "invalid-data", invalidFields=invalid)
        exports = [e for e in self.state.exports.values() if _matches(e, request.query.get("filter"))]
        sort = request.query.get("sort")
        if sort:
            field_name = sort.lstrip("-")
            if field_name != "createdTime":
                return problem(422, "Invalid data", f"{field_name} is not sortable here", invalidFields=[{"field": "sort", "message": "not sortable"}])
            exports.sort(key=lambda e: e.created, reverse=sort.startswith("-"))  # stable: ties keep their order
        page = exports[offset : offset + limit]
        docs = [self.state.resource_json(request, e, prefix) for e in page]
        headers = {"Pagination-Total": str(len(exports)), "Pagination-Limit": str(limit), "Pagination-Offset": str(offset)}
        return web.Response(body=orjson.dumps(docs), content_type="application/json", headers=headers)

    async def download(self, request: web.Request, prefix: str, body: Any) -> web.Response:
        state = self.state
        export = next((e for e in state.exports.values() if e.file_id == request.match_info["file_id"]), None)
        if export is None or export.status != "completed":
            return problem(404, "Not Found", f"File {request.match_info['file_id']} was not found.")
        return web.Response(status=302, headers={"Location": state.signed_url(export)})

    async def file(self, request: web.Request) -> web.StreamResponse:
        state = self.state
        sim = state.sim
        if (rejected := sim.check_signature(request)) is not None:
            return rejected
        export = next((e for e in state.exports.values() if e.file_id == request.match_info["file_id"]), None)
        if export is None:
            return web.Response(status=404, text="no such file")
        if (failure := sim.fault_response()) is not None:
            return failure
        data = state.content(export)
        ext = "zip" if export.zipped else {"json-api": "json", "detailed-csv": "csv"}.get(export.format, export.format)
        content_type = {
            "zip": "application/zip", "csv": "text/csv", "json": "application/json",
            "xml": "application/xml", "pdf": "application/pdf",
        }[ext]
        response, start, end = sim.file_response(
            request, size=len(data), etag=f'"{export.file_id}"', content_type=content_type
        )
        if isinstance(response, web.Response):
            return response
        response.headers["Content-Disposition"] = f'attachment; filename="{export.id}.{ext}"'
        pieces = (data[i : min(end, i + 65536)] for i in range(start, end, 65536))
        return await sim.send_file(request, response, f"rebilly/{export.file_id}", pieces, start)




def _validate(body: Any) -> list[dict[str, str]]:
    """Rebilly-style invalidFields for a DataExport request body."""
    if not isinstance(body, dict):
        return [{"field": "body", "message": "must be a JSON object"}]
    problems = []
    for name in ("name", "format", "resource"):
        if not isinstance(body.get(name), str) or not body.get(name):
            problems.append({"field": name, "message": f"{name} is required"})
    if isinstance(body.get("name"), str) and len(body["name"]) > NAME_MAX_LENGTH:
        problems.append({"field": "name", "message": f"must be at most {NAME_MAX_LENGTH} characters"})
    resource = CATALOG.get(body["resource"]) if isinstance(body.get("resource"), str) else None
    if isinstance(body.get("resource"), str) and resource is None:
        problems.append({"field": "resource", "message": f"must be one of {', '.join(RESOURCES)}"})
    allowed = resource.formats if resource is not None else FORMATS
    if isinstance(body.get("format"), str) and body["format"] not in allowed:
        problems.append({"field": "format", "message": f"must be one of {', '.join(allowed)}"})
    date_range = body.get("dateRange")
    if date_range is not None:
        for name in ("start", "end"):
            if not isinstance(date_range, dict) or not date_range.get(name):
                problems.append({"field": f"dateRange.{name}", "message": f"dateRange.{name} is required"})
    recurring = body.get("recurring")
    if recurring is not None and (not isinstance(recurring, dict) or not str(recurring.get("instruction", "")).startswith(("FREQ=", "RRULE:", "DTSTART"))):
        problems.append({"field": "recurring.instruction", "message": "must be an RFC 5545 RRULE"})
    for name in ("id", "status", "_links", "recordCount", "userId"):
        if name in body:
            problems.append({"field": name, "message": f"{name} is read-only"})
    return problems


def _matches(export: RebillyExport, filter_text: str | None) -> bool:
    """Rebilly's collection filter: ``field:v1,v2;field2:v3``, ranges as ``field:low..high`` (inclusive)."""
    if not filter_text:
        return True
    for clause in filter_text.split(";"):
        name, _, values = clause.partition(":")
        if name == "status":
            current: Any = export.status
        elif name == "createdTime":
            current = export.created
        else:
            current = export.body.get(name)
        low, dots, high = values.partition("..")
        if dots:
            if not low <= str(current) <= high:
                return False
        elif str(current) not in values.split(","):
            return False
    return True
