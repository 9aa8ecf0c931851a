"""The upstream limits of Rebilly's data-export API, enforced by the simulator and respected by the client.

Each limit is the spec's (``tests/data/rebilly_openapi``, one upstream commit):
the 11 exportable resources and their formats, ``name`` ≤ 50 characters,
``offset`` ≤ 1000, ``detailed-csv``, the file in ``fileId``/``_embedded.file``,
and ``X-RateLimit-Retry-After`` waits longer than five minutes.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import aiohttp
import jsonschema
import pytest

from streamer.errors import ConfigError, ExportError
from streamer.providers.rebilly import ExportRequest
from streamer.providers.rebilly.catalog import NAME_MAX_LENGTH, OFFSET_MAX, RESOURCES, date_field_help
from tests.support import rebilly_openapi as spec
from tests.support.rebilly import ORG, collect, make_source, rebilly_sim

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


async def post(sim, state, body):
    url = f"{sim.base_url}/organizations/{ORG}/experimental/data-exports"
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=body, headers={"REB-APIKEY": state.api_key}) as response:
            return response.status, await response.json(content_type=None)


def test_catalog_is_exactly_the_spec_resources_and_formats():
    mapping = spec.documents()[spec.DATA_EXPORT]["discriminator"]["mapping"]
    assert set(RESOURCES) == set(mapping) and len(RESOURCES) == 11
    for name, resource in RESOURCES.items():
        properties = spec.declared_for(name)
        assert list(resource.formats) == properties["format"]["enum"], name
        date_field = properties["dateRange"]["allOf"][1]["properties"]["field"]["default"]
        assert resource.date_field == date_field, name
        assert properties["name"]["maxLength"] == NAME_MAX_LENGTH
    assert "revenueAudit" not in RESOURCES
    assert RESOURCES["transactions"].date_field == "processedTime"
    assert date_field_help().startswith("processedTime for transactions; issuedTime for invoices, invoiceItems")


async def test_every_resource_is_created_with_a_default_name_within_50_chars():
    async with rebilly_sim(records=3) as (sim, state):
        for name in RESOURCES:
            request = ExportRequest(resource=name, format="csv")
            assert len(request.default_name()) <= NAME_MAX_LENGTH
            records = await collect(make_source(sim, state, request=request))
            assert len(records) == 3, name
        posts = [r for r in state.responses if r["operation"] == "create"]
        assert [r["status"] for r in posts] == [201] * 11
        for request in (r for r in state.requests if r["operation"] == "create"):
            spec.discriminated(request["body"]["resource"]).validate(request["body"])


async def test_simulator_refuses_what_upstream_refuses():
    async with rebilly_sim() as (sim, state):
        status, problem = await post(sim, state, {"name": "x", "format": "csv", "resource": "revenueAudit"})
        assert status == 422 and problem["invalidFields"][0]["field"] == "resource"
        status, problem = await post(sim, state, {"name": "n" * 51, "format": "csv", "resource": "payoutRequestAllocations"})
        assert status == 422 and problem["invalidFields"] == [{"field": "name", "message": "must be at most 50 characters"}]
        status, problem = await post(sim, state, {"name": "u", "format": "json-api", "resource": "users"})
        assert status == 422 and problem["invalidFields"][0]["field"] == "format"
        status, _ = await post(sim, state, {"name": "n" * 50, "format": "detailed-csv", "resource": "amlChecks"})
        assert status == 201
        url = f"{sim.base_url}/organizations/{ORG}/experimental/data-exports"
        async with aiohttp.ClientSession() as session:
            for offset, expected in ((OFFSET_MAX, 200), (OFFSET_MAX + 1, 422)):
                async with session.get(url, params={"offset": str(offset)}, headers={"REB-APIKEY": state.api_key}) as response:
                    assert response.status == expected
    documented = spec.response_schema("data-exports.yaml", "post", 422)
    created_problems = [r["body"] for r in state.responses if r["operation"] == "create" and r["status"] == 422]
    assert len(created_problems) == 3
    for problem in created_problems:
        documented.validate(problem)


def test_client_refuses_what_upstream_would_refuse_before_any_request():
    with pytest.raises(ConfigError, match="'revenueAudit' cannot be exported; Rebilly exports customers"):
        ExportRequest(resource="revenueAudit").check()
    with pytest.raises(ConfigError, match="51 characters; Rebilly allows 1 to 50"):
        ExportRequest(name="n" * 51).check()
    with pytest.raises(ConfigError, match="'users' cannot be exported as 'json-api'"):
        ExportRequest(resource="users", format="json-api").check()


async def test_detailed_csv_is_streamed_as_csv_and_kept_by_the_listing():
    async with rebilly_sim(records=40) as (sim, state):
        source = make_source(sim, state, request=ExportRequest(resource="transactions", format="detailed-csv"))
        records = await collect(source)
        assert [r.data["id"] for r in records] == state.exports[source.exports[0]["id"]].ids
        state.exports.clear()
        detailed = state.add_export("customers", "detailed-csv", records=7)
        plain = state.add_export("customers", "json", records=5)
        listed = make_source(sim, state, from_list=True)
        records = await collect(listed)
        assert listed.skipped == []
        assert sorted(r.data["id"] for r in records) == sorted(detailed.ids + plain.ids)


async def test_file_found_in_embedded_file_when_no_link_or_file_id():
    async with rebilly_sim(records=30, links=("embedded",)) as (sim, state):
        source = make_source(sim, state)
        records = await collect(source)
        assert len(records) == 30
        gets = [r for r in state.requests if r["operation"] == "get"]
        assert gets and all(r["query"].get("expand") == "file" for r in gets)
        completed = [r["body"] for r in state.responses if r["operation"] == "get" and r["body"]["status"] == "completed"]
        assert "fileId" not in completed[-1] and completed[-1]["_embedded"]["file"]["id"]


async def test_no_file_anywhere_is_a_clear_error():
    async with rebilly_sim(records=30, links=()) as (sim, state):
        with pytest.raises(ExportError, match="no download link, signed link or file id"):
            await collect(make_source(sim, state))


async def listing(sim, state, **kwargs):
    source = make_source(sim, state, from_list=True)
    async with aiohttp.ClientSession() as session:
        return [e async for e in source.api(session).list_exports(**kwargs)]


@pytest.mark.parametrize("sort", [None, "-createdTime"])
async def test_listing_pages_past_offset_1000_by_created_time_exactly_once(sort):
    async with rebilly_sim() as (sim, state):
        made = []
        for i in range(2600):
            # runs of equal createdTime, some of them straddling the window boundaries
            made.append(state.add_export("transactions", "csv", records=1, created=T0 + timedelta(seconds=i // 7)))
        listed = await listing(sim, state, sort=sort, limit=250)
        assert len(listed) == 2600 and {e["id"] for e in listed} == {e.id for e in made}
        times = [e["createdTime"] for e in listed]
        assert times == sorted(times, reverse=sort is not None)
        pages = [r for r in state.requests if r["operation"] == "list"]
        offset_schema = spec.parameter_schema("collectionOffset")
        for page in pages:
            jsonschema.validate(int(page["query"]["offset"]), offset_schema)  # maximum: 1000
        assert all(r["status"] == 200 for r in state.responses if r["operation"] == "list")
        windows = {p["query"].get("filter") for p in pages}
        assert len(windows) >= 3  # 2600 exports need at least three windows of 1250


async def test_listing_keeps_the_callers_filter_inside_each_window():
    async with rebilly_sim() as (sim, state):
        wanted = [state.add_export("customers", "csv", records=1, created=T0 + timedelta(seconds=i)) for i in range(1300)]
        for i in range(300):
            state.add_export("transactions", "csv", records=1, created=T0 + timedelta(seconds=i))
        listed = await listing(sim, state, filter="resource:customers", limit=500)
        assert sorted(e["id"] for e in listed) == sorted(e.id for e in wanted)
        assert all(p["query"]["filter"].startswith("resource:customers") for p in state.requests if p["operation"] == "list")


async def test_listing_that_cannot_be_narrowed_stops_clearly_instead_of_truncating():
    async with rebilly_sim() as (sim, state):
        for i in range(1200):
            state.add_export("transactions", "csv", records=1, created=T0 + timedelta(seconds=i))
        with pytest.raises(ExportError, match="caps offset at 1000 .* cannot be narrowed by createdTime"):
            await listing(sim, state, filter="createdTime:2026-01-01T00:00:00Z..2027-01-01T00:00:00Z", limit=100)
        state.exports.clear()
        for i in range(1200):
            state.add_export("transactions", "csv", records=1, created=T0)
        with pytest.raises(ExportError, match="more than 1000 exports share createdTime"):
            await listing(sim, state, limit=100)


async def test_rate_limit_waits_longer_than_five_minutes_are_honoured(monkeypatch):
    waits = []
    real_sleep = asyncio.sleep

    async def fake_sleep(seconds, *args, **kwargs):
        if seconds > 5:
            waits.append(seconds)
            seconds = 0
        return await real_sleep(seconds, *args, **kwargs)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    async with rebilly_sim(records=5, throttle_first=1, retry_after=540) as (sim, state):
        source = make_source(sim, state, poll_interval=0.01)
        assert source.retry.max_retry_after >= 600
        records = await collect(source)
    assert len(records) == 5
    assert len(waits) == 1 and 530 < waits[0] <= 541  # Rebilly's 9-minute hint, not capped at 300 s
