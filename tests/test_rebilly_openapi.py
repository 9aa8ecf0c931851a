"""Second check, against Rebilly's own OpenAPI: the simulator's responses and the client's requests.

The schemas are the vendor's files, vendored verbatim from one upstream commit in
tests/data/rebilly_openapi (see its README; scripts/refresh_rebilly_openapi.py refreshes them).  A scenario drives every operation and
outcome the provider meets; then every recorded response is validated against
the schema its operation documents for that status, and every request against
the request body, parameter and security definitions.
"""

from __future__ import annotations

import re

import jsonschema
import pytest

from streamer.errors import ExportError, HTTPError
from streamer.providers.rebilly import DateRange, ExportRequest, Recurring
from tests.support import rebilly_openapi as spec
from tests.support.rebilly import collect, make_source, rebilly_sim

PATH_FILES = {"create": ("data-exports.yaml", "post"), "list": ("data-exports.yaml", "get"),
              "get": ("data-exports@{id}.yaml", "get"), "download": ("files@{id}@download.yaml", "get")}
# Statuses a path file does not list for an operation: 429 (listed for POST) is Rebilly's
# rate-limit response for every call.
EXTRA = {429: "components/responses/TooManyRequests.yaml"}


async def scenario():
    """Drive every outcome the provider handles; return the simulator's record of it."""
    async with rebilly_sim(records=120, throttle_first=1, retry_after=1, links=("download", "signedLink")) as (sim, state):
        full = ExportRequest(
            resource="transactions", format="json", name="spec check", filter="result:approved",
            sort="-createdTime", q="x", fields=("amount", "currency"),
            date_range=DateRange("yesterday", "today", "processedTime"),
            recurring=Recurring("FREQ=DAILY;BYHOUR=2", "2026-01-01T02:00:00Z"), email_notification=("a@example.com",),
        )
        await collect(make_source(sim, state, request=full))  # 429, 201, get ×4 (each status), signedLink
        state.links = ("download",)  # from now on: GET /files/{id}/download → 302
        for i in range(3):
            state.add_export("customers", "csv", records=3 + i)
        await collect(make_source(sim, state, from_list=True, page_size=2))  # list pages, gets
        state.fail_next = "max-retries-reached"  # one of DataExportFailureReason's values
        with pytest.raises(ExportError):
            await collect(make_source(sim, state, jwt=True))  # failed status
        with pytest.raises(HTTPError):
            await collect(make_source(sim, state, request=ExportRequest(recurring=Recurring("daily"))))  # 422 fields
        state.max_records = 10
        with pytest.raises(HTTPError):
            await collect(make_source(sim, state))  # 422 data-export-limit-exceeded
        with pytest.raises(HTTPError):
            await collect(make_source(sim, state, export_ids=["missing-1"]))  # 404
        return state.requests, state.responses


@pytest.fixture(scope="module")
def recorded():
    import asyncio

    return asyncio.run(scenario())


def schema_for(operation: str, status: int):
    path_file, method = PATH_FILES[operation]
    validator = spec.response_schema(path_file, method, status)
    if validator is None and status in EXTRA:
        validator = spec.validator(EXTRA[status], "/content/application~1json/schema")
    return validator


def test_the_scenario_covered_every_outcome(recorded):
    _, responses = recorded
    seen = {(r["operation"], r["status"]) for r in responses}
    assert {("create", 201), ("create", 429), ("create", 422), ("get", 200), ("get", 404),
            ("list", 200), ("download", 302)} <= seen
    problems = {r["body"]["type"] for r in responses if r["status"] == 422}
    assert "data-export-limit-exceeded" in problems and any(p.endswith("/invalid-data") for p in problems)
    statuses = {r["body"]["status"] for r in responses if r["operation"] == "get" and r["status"] == 200}
    assert statuses == {"pending", "queued", "processing", "completed", "failed"}


def test_every_response_body_matches_the_vendor_schema(recorded):
    _, responses = recorded
    checked = 0
    for response in responses:
        validator = schema_for(response["operation"], response["status"])
        if response["status"] == 302:
            assert response["body"] is None
            continue
        assert validator is not None, f"no schema for {response['operation']} {response['status']}"
        validator.validate(response["body"])
        checked += 1
        if isinstance(response["body"], dict) and response["body"].get("type") == "data-export-limit-exceeded":
            spec.validator("components/schemas/ProblemTypes/DataExportLimitExceeded.yaml").validate(response["body"])
        if response["status"] == 422 and "invalidFields" in response["body"]:
            spec.validator("components/schemas/ProblemTypes/ValidationError.yaml").validate(response["body"])
        if response["status"] in (200, 201) and response["operation"] != "download":
            body = response["body"]
            for export in body if isinstance(body, list) else [body]:
                spec.validator(spec.DATA_EXPORT).validate(export)  # the oneOf: exactly one resource schema
                spec.discriminated(export["resource"]).validate(export)
    assert checked >= 15


def test_response_headers_match_the_vendor_schema(recorded):
    _, responses = recorded
    for response in responses:
        headers = response["headers"]
        if response["operation"] == "list":
            for name in ("Pagination-Total", "Pagination-Limit", "Pagination-Offset"):
                jsonschema.validate(int(headers[name]), spec.header_schema(name))
        if response["status"] == 429:
            jsonschema.validate(int(headers["X-RateLimit-Retry-After"]), spec.header_schema("X-RateLimit-Retry-After"))
        if response["status"] == 302:
            location = spec.documents()["components/responses/Found.yaml"]["headers"]["Location"]["schema"]
            jsonschema.validate(headers["Location"], location)
        if response["status"] == 201:
            jsonschema.validate(headers["Location"], spec.header_schema("Location"))
            assert headers["Location"].endswith("/" + response["body"]["id"])


def test_completed_exports_carry_the_documented_links(recorded):
    _, responses = recorded
    completed = [r["body"] for r in responses if r["operation"] == "get" and r["status"] == 200
                 and r["body"]["status"] == "completed"]
    assert completed
    for body in completed:
        rels = spec.declared_for(body["resource"])["_links"]["items"]["properties"]["rel"]["enum"]
        assert {link["rel"] for link in body["_links"]} <= set(rels)
        assert isinstance(body["recordCount"], int)


def test_client_request_bodies_match_the_vendor_request_schema(recorded):
    requests, _ = recorded
    body_schema = spec.validator("components/requestBodies/DataExport.yaml", "/content/application~1json/schema")
    posts = [r for r in requests if r["method"] == "POST"]
    assert len(posts) >= 5
    for request in posts:
        body = request["body"]
        assert request["headers"]["Content-Type"] == "application/json"
        if "recurring" in body and not body["recurring"]["instruction"].startswith("FREQ="):
            continue  # the deliberately invalid request of the 422 case
        body_schema.validate(body)
        spec.discriminated(body["resource"]).validate(body)
        declared = spec.declared_for(body["resource"])
        read_only = spec.read_only_properties(body["resource"])
        assert {"id", "status", "fileId", "failureReason", "_links", "_embedded"} <= read_only  # the control has teeth
        assert not read_only & set(body), "the client must not send readOnly properties"
        assert set(body) <= set(declared), f"undeclared properties {set(body) - set(declared)}"
        for member in ("arguments", "dateRange", "recurring"):
            if member in body:
                assert set(body[member]) <= spec.member_properties(body["resource"], member)


def test_client_parameters_and_credentials_match_the_vendor_spec(recorded):
    requests, _ = recorded
    resource_id = spec.documents()["components/parameters/resourceId.yaml"]["schema"]
    limit = spec.parameter_schema("collectionLimit")
    offset = spec.parameter_schema("collectionOffset")
    assert offset["maximum"] == 1000
    for request in requests:
        headers = request["headers"]
        assert headers.get("REB-APIKEY") or headers.get("Authorization", "").startswith("Bearer ")
        if request["operation"] == "list":
            jsonschema.validate(int(request["query"]["limit"]), limit)
            jsonschema.validate(int(request["query"]["offset"]), offset)
        if request["operation"] in ("get", "download"):
            identifier = request["path"].rstrip("/").split("/")[-2 if request["operation"] == "download" else -1]
            jsonschema.validate(identifier, resource_id)
            assert re.fullmatch(resource_id["pattern"], identifier)


def test_the_vendor_schemas_have_teeth():
    """Negative controls: the validators reject what Rebilly's spec forbids."""
    data_export = spec.validator(spec.DATA_EXPORT)
    good = {"name": "n", "format": "csv", "resource": "transactions"}
    data_export.validate(good)
    data_export.validate({**good, "status": "failed", "failureReason": "record-limit-exceeded"})
    data_export.validate({**good, "format": "detailed-csv", "name": "n" * 50})
    for bad in (
        {"format": "csv", "resource": "transactions"},  # name is required
        {**good, "format": "parquet"},
        {**good, "resource": "revenueAudit"},  # no longer exportable
        {**good, "resource": "users", "format": "json-api"},  # not one of users' formats
        {**good, "name": "n" * 51},  # maxLength 50
        {**good, "failureReason": "warehouse timeout"},  # not a DataExportFailureReason
        {**good, "_links": [{"rel": "file", "href": "x"}]},  # rel enum
        {**good, "createdTime": "yesterday"},  # date-time format
    ):
        with pytest.raises(jsonschema.ValidationError):
            data_export.validate(bad)
    transactions = spec.discriminated("transactions")
    transactions.validate({**good, "dateRange": {"start": "yesterday", "end": "today"}})
    with pytest.raises(jsonschema.ValidationError):
        transactions.validate({**good, "dateRange": {"start": "today"}})  # end required
    limit = spec.validator("components/schemas/ProblemTypes/DataExportLimitExceeded.yaml")
    with pytest.raises(jsonschema.ValidationError):
        limit.validate({"type": "data-export-limit-exceeded", "title": "t", "status": 422})  # counts required
