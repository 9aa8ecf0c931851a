"""The simulated Mews API answers like the documented one (raw HTTP, no client code)."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections import deque
from datetime import datetime, timedelta, timezone

import aiohttp
import orjson
import pytest

from streamer.simulator import Simulator
from streamer.simulator.mews import DEMO_ACCESS_TOKEN, DEMO_CLIENT_TOKEN
from streamer.simulator.vendors import VENDOR_MODULES
from tests.support.mews import mews_simulator

AUTH = {"ClientToken": DEMO_CLIENT_TOKEN, "AccessToken": DEMO_ACCESS_TOKEN, "Client": "tests 1.0"}


async def post(sim: Simulator, action: str, body: dict, path: str | None = None) -> tuple[int, dict, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{sim.base_url}{path or '/api/connector/v1/exports/' + action}", json=body) as r:
            raw = await r.read()
            try:
                doc = orjson.loads(raw)
            except orjson.JSONDecodeError:
                doc = {"text": raw.decode()}
            return r.status, dict(r.headers), doc


def test_registered_as_a_vendor_module() -> None:
    assert VENDOR_MODULES["mews"] == "streamer.simulator.mews"


async def test_status_progresses_from_pending_through_processing_to_success() -> None:
    async with mews_simulator(pending_seconds=0.3, processing_seconds=0.3, parts=4, records=100) as (sim, api):
        status, headers, body = await post(sim, "add", {**AUTH, "EntityType": "OrderItem"})
        assert status == 200 and headers["Request-Id"]
        export = body["Export"]
        assert export["Status"] == "Pending" and export["Files"] == [] and export["ExpiresUtc"] is None
        seen = []
        for _ in range(40):
            _, _, body = await post(sim, "getAll", {**AUTH, "ExportIds": [export["Id"]]})
            status_now = body["Exports"][0]["Status"]
            if not seen or seen[-1] != status_now:
                seen.append(status_now)
            if status_now == "Success":
                break
            await asyncio.sleep(0.05)
        assert seen == ["Pending", "Processing", "Success"]
        files = body["Exports"][0]["Files"]
        assert len(files) == 4 and all(f["SizeInBytes"] > 0 for f in files)
        assert body["Exports"][0]["ExpiresUtc"].endswith("Z")
        _, _, again = await post(sim, "getAll", {**AUTH, "ExportIds": [export["Id"]]})
        assert [f["Url"] for f in again["Exports"][0]["Files"]] != [f["Url"] for f in files]  # freshly signed
        async with aiohttp.ClientSession() as session:
            async with session.get(files[0]["Url"]) as response:
                assert response.status == 200
                assert len(await response.read()) == files[0]["SizeInBytes"]


async def test_file_urls_expire_after_the_configured_ttl() -> None:
    async with mews_simulator(url_ttl=0.3) as (sim, api):
        export = sim.add_export("Payment", records=10)
        _, _, body = await post(sim, "getAll", {**AUTH, "ExportIds": [export.id]})
        url = body["Exports"][0]["Files"][0]["Url"]
        await asyncio.sleep(0.5)
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as response:
                assert response.status == 403
                assert "Request has expired" in await response.text()


async def test_errors_have_the_mews_shape_and_a_request_id() -> None:
    async with mews_simulator() as (sim, api):
        status, headers, body = await post(sim, "add", {**AUTH, "AccessToken": "wrong-token", "EntityType": "OrderItem"})
        assert status == 401
        assert set(body) == {"Message", "RequestId", "Details"}
        assert body["RequestId"] == headers["Request-Id"]
        status, _, body = await post(sim, "add", {**AUTH, "EntityType": "Invoice"})
        assert status == 400 and "Invalid EntityType" in body["Message"]
        status, _, body = await post(sim, "add", {"EntityType": "OrderItem"})
        assert status == 400 and "ClientToken" in body["Message"]


async def test_paths_are_case_sensitive_and_post_only() -> None:
    async with mews_simulator() as (sim, api):
        status, headers, body = await post(sim, "", {**AUTH, "EntityType": "OrderItem"}, path="/api/connector/v1/exports/Add")
        assert status == 404 and body["RequestId"] == headers["Request-Id"]
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{sim.base_url}/api/connector/v1/exports/add") as response:
                assert response.status == 405 and response.headers["Request-Id"]


async def test_duplicate_pending_export_of_one_entity_type_is_rejected() -> None:
    async with mews_simulator(pending_seconds=5) as (sim, api):
        assert (await post(sim, "add", {**AUTH, "EntityType": "Bill"}))[0] == 200
        status, _, body = await post(sim, "add", {**AUTH, "EntityType": "Bill"})
        assert status == 400 and "already Pending or Processing" in body["Message"]
        assert (await post(sim, "add", {**AUTH, "EntityType": "Company"}))[0] == 200  # other types are free


async def test_filters_and_scope_are_validated_like_the_api() -> None:
    now = datetime.now(timezone.utc)
    iso = lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    cases = [
        ({"Filters": {"UpdatedUtc": {"StartUtc": iso(now - timedelta(days=1)), "EndUtc": iso(now)}}}, "5 minutes"),
        ({"Filters": {"UpdatedUtc": {"StartUtc": iso(now - timedelta(days=200)), "EndUtc": iso(now - timedelta(days=1))}}}, "180 days"),
        ({"Scope": {"EnterpriseIds": ["a"], "ChainIds": ["b"]}}, "exactly one"),
        ({"Scope": {"EnterpriseIds": [str(i) for i in range(1001)]}}, "maximum is 1000"),
    ]
    async with mews_simulator() as (sim, api):
        for extra, message in cases:
            status, _, body = await post(sim, "add", {**AUTH, "EntityType": "OrderItem", **extra})
            assert status == 400 and message in body["Message"], (extra, body)
        status, _, body = await post(sim, "add", {**AUTH, "EntityType": "LedgerEntry"})
        assert status == 400 and "Posting is required" in body["Message"]
        status, _, body = await post(sim, "getAll", {**AUTH, "ExportIds": [str(i) for i in range(1001)]})
        assert status == 400 and "maximum is 1000" in body["Message"]
        ok = {"Filters": {"UpdatedUtc": {"StartUtc": iso(now - timedelta(days=3)), "EndUtc": iso(now - timedelta(hours=1))}}}
        assert (await post(sim, "add", {**AUTH, "EntityType": "OrderItem", **ok}))[0] == 200


@pytest.mark.parametrize("http_date", [False, True])
async def test_429_carries_retry_after(http_date: bool) -> None:
    async with mews_simulator(throttle_rate=1.0, retry_after=3, retry_after_http_date=http_date) as (sim, api):
        status, headers, body = await post(sim, "getAll", {**AUTH, "ExportIds": ["x"]})
    assert status == 429 and headers["Request-Id"] == body["RequestId"]
    if http_date:
        when = email.utils.parsedate_to_datetime(headers["Retry-After"]).timestamp()
        assert 1.5 <= when - time.time() <= 3.5
    else:
        assert headers["Retry-After"] == "3"


async def test_queued_statuses_and_the_server_side_rate_limit() -> None:
    async with mews_simulator(statuses=deque([408, 503]), rate_limit=(5, 30.0)) as (sim, api):
        statuses = [(await post(sim, "getAll", {**AUTH, "ExportIds": ["x"]}))[0] for _ in range(8)]
        assert statuses == [408, 503, 200, 200, 200, 200, 200, 429]
        _, headers, _ = await post(sim, "getAll", {**AUTH, "ExportIds": ["x"]})
        assert int(headers["Retry-After"]) >= 1
