"""Every export status and the duplicate-export rejection, against the simulated Mews API."""

from __future__ import annotations

from collections import Counter
from datetime import date

import aiohttp
import pytest

from streamer import ExportError, ExportTimeoutError, run, stream
from streamer.errors import ConfigError, HTTPError
from streamer.providers.mews import ExportAlreadyRunningError, MewsClient, MewsCredentials, PollPolicy, owner_of
from streamer.providers.mews.limiter import SlidingWindowLimiter
from streamer.sinks.callback import CallbackSink
from streamer.simulator.mews import DEMO_ACCESS_TOKEN, DEMO_CLIENT_TOKEN
from tests.support.mews import mews_simulator, mews_source


async def collect(source) -> list:
    records = []
    async with stream(source, batch_size=200) as records_stream:
        async for record in records_stream:
            records.append(record)
    return records


def expected_ids(api, entity_types=None) -> list[str]:
    return [
        i
        for e in api.exports.values()
        if entity_types is None or e.entity_type in entity_types
        for i in e.ids()
    ]


async def test_success_streams_every_part_of_every_entity_exactly_once() -> None:
    async with mews_simulator(records=400, parts=3) as (sim, api):
        created = []
        source = mews_source(sim, ["OrderItem", "Payment", "Customer"], on_export_created=lambda e, i: created.append((e, i)))
        records = await collect(source)
    ids = Counter(r.data["Id"] for r in records)
    assert set(ids.values()) == {1}
    assert sorted(ids) == sorted(expected_ids(api))
    assert len(ids) == 1200
    assert {r.entity_type for r in records} == {"OrderItem", "Payment", "Customer"}
    assert {(r.part.export_id, r.part.index) for r in records} == {
        (e.id, i) for e in api.exports.values() for i in range(3)
    }
    assert source.created_exports == {e.entity_type: e.id for e in api.exports.values()}
    assert sorted(created) == sorted(source.created_exports.items())
    adds = [body for action, body in api.calls if action == "add"]
    assert [b["EntityType"] for b in adds] == ["OrderItem", "Payment", "Customer"]
    assert all(b["Client"].startswith("streamer") for b in adds)
    # One getAll polls all pending exports together.
    polls = [body["ExportIds"] for action, body in api.calls if action == "getAll"]
    assert len(polls[0]) == 3


async def test_portfolio_records_keep_their_enterprise_or_chain() -> None:
    scope = ["11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"]
    async with mews_simulator(records=200, parts=2) as (sim, api):
        records = await collect(mews_source(sim, ["OrderItem", "Customer"], enterprise_ids=scope))
    add = next(body for action, body in api.calls if action == "add")
    assert add["Scope"] == {"EnterpriseIds": scope}
    owners = Counter(owner_of(r) for r in records)
    assert {key for key, _ in owners} == {"EnterpriseId", "ChainId"}
    assert {value for key, value in owners if key == "EnterpriseId"} == set(scope)


async def test_failed_export_is_a_clear_error() -> None:
    async with mews_simulator(fail_next={"Payment": 1}) as (sim, api):
        with pytest.raises(ExportError) as info:
            await collect(mews_source(sim, ["Payment"]))
    failed = next(iter(api.exports.values()))
    text = str(info.value)
    assert "Failed" in text and failed.id in text and "Payment" in text
    assert "request id" in text and "--recreate-failed" in text
    assert [a for a, _ in api.calls].count("add") == 1


async def test_failed_export_is_recreated_on_request() -> None:
    async with mews_simulator(fail_next={"Payment": 1}, records=250) as (sim, api):
        source = mews_source(sim, ["Payment"], poll=PollPolicy(initial_interval=0.02, max_interval=0.1, recreate_failed=True))
        records = await collect(source)
    first, second = api.exports.values()
    assert api.status(first) == "Failed"
    assert sorted(r.data["Id"] for r in records) == sorted(second.ids())
    assert source.created_exports == {"Payment": second.id}


async def test_expired_export_is_recreated() -> None:
    async with mews_simulator(expire_next={"Reservation": 1}, records=150) as (sim, api):
        source = mews_source(sim, ["Reservation"])
        records = await collect(source)
    expired, fresh = api.exports.values()
    assert api.status(expired) == "Expired"
    assert sorted(r.data["Id"] for r in records) == sorted(fresh.ids())


async def test_recreation_gives_up_after_max_recreations() -> None:
    async with mews_simulator(expire_next={"Bill": 5}) as (sim, api):
        poll = PollPolicy(initial_interval=0.02, max_interval=0.05, max_recreations=2)
        with pytest.raises(ExportError, match="after 2 re-creations"):
            await collect(mews_source(sim, ["Bill"], poll=poll))
    assert len(api.exports) == 3


async def test_pending_past_the_deadline_times_out_with_the_export_id() -> None:
    async with mews_simulator(stuck={"Company"}) as (sim, api):
        poll = PollPolicy(initial_interval=0.05, max_interval=0.1, deadline=0.6)
        with pytest.raises(ExportTimeoutError) as info:
            await collect(mews_source(sim, ["Company"], poll=poll))
    stuck = next(iter(api.exports.values()))
    assert f"--export-id Company={stuck.id}" in str(info.value)
    assert "Processing" in str(info.value)


async def test_ready_exports_stream_while_others_are_still_polled() -> None:
    async with mews_simulator(stuck={"Payment"}, parts=2) as (sim, api):
        source = mews_source(sim, ["OrderItem", "Payment"], poll=PollPolicy(initial_interval=0.02, max_interval=0.05, deadline=1.0))
        yielded = []
        async with aiohttp.ClientSession() as session:
            with pytest.raises(ExportTimeoutError):
                async for part in source.parts(session):
                    yielded.append((part.info.entity_type, part.info.index, part.size))
    order_items = next(e for e in api.exports.values() if e.entity_type == "OrderItem")
    assert yielded == [("OrderItem", 0, order_items.file_size(0)), ("OrderItem", 1, order_items.file_size(1))]


async def _start_export_outside(sim, entity: str) -> str:
    """Create an export the way another job would, so the next add is refused."""
    async with aiohttp.ClientSession() as session:
        client = MewsClient(
            MewsCredentials(sim.base_url, DEMO_CLIENT_TOKEN, DEMO_ACCESS_TOKEN), session, limiter=SlidingWindowLimiter()
        )
        reply = await client.call("exports", "add", {"EntityType": entity})
    return reply.body["Export"]["Id"]


async def test_duplicate_export_reuses_the_known_id() -> None:
    async with mews_simulator(pending_seconds=0.3, records=220) as (sim, api):
        running = await _start_export_outside(sim, "OrderItem")
        source = mews_source(sim, ["OrderItem"], known_exports={"OrderItem": running})
        records = await collect(source)
    assert ("add", 400) in api.rejected
    assert list(api.exports) == [running]  # nothing new was created
    assert sorted(r.data["Id"] for r in records) == sorted(api.exports[running].ids())
    assert {r.part.export_id for r in records} == {running}
    assert source.created_exports == {}
    assert source.lifecycle is not None and source.lifecycle.in_use == {"OrderItem": running}


async def test_duplicate_export_without_a_known_id_says_what_to_do() -> None:
    async with mews_simulator(pending_seconds=5.0) as (sim, api):
        await _start_export_outside(sim, "Customer")
        with pytest.raises(ExportAlreadyRunningError) as info:
            await collect(mews_source(sim, ["Customer"]))
    text = str(info.value)
    assert "already Pending or Processing" in text
    assert "--export-id Customer=<id>" in text and "known_exports" in text
    assert "HTTP 400" in text and "request id" in text
    assert DEMO_ACCESS_TOKEN not in text


async def test_a_stale_known_id_does_not_hide_the_rejection() -> None:
    async with mews_simulator(pending_seconds=5.0) as (sim, api):
        old = sim.add_export("Customer", records=10)  # a finished export, not the running one
        await _start_export_outside(sim, "Customer")
        with pytest.raises(ExportAlreadyRunningError, match=f"known id {old.id} is not the running export"):
            await collect(mews_source(sim, ["Customer"], known_exports={"Customer": old.id}))


async def test_reuse_known_streams_a_finished_export_without_creating_one() -> None:
    async with mews_simulator() as (sim, api):
        done = sim.add_export("Payment", records=120, parts=2)
        poll = PollPolicy(initial_interval=0.02, max_interval=0.05, reuse_known=True)
        records = await collect(mews_source(sim, ["Payment"], known_exports={"Payment": done.id}, poll=poll))
    assert [a for a, _ in api.calls] == ["getAll"]
    assert sorted(r.data["Id"] for r in records) == sorted(done.ids())


async def test_ledger_entry_sends_its_posting_interval() -> None:
    async with mews_simulator(records=90) as (sim, api):
        source = mews_source(sim, ["LedgerEntry"], posting_from=date(2025, 1, 1), posting_to=date(2025, 1, 31))
        records = await collect(source)
    add = next(body for action, body in api.calls if action == "add")
    assert add["Filters"] == {"LedgerEntryFilters": {"Posting": {"Start": "2025-01-01", "End": "2025-01-31"}}}
    assert len(records) == 90
    assert records[0].typed().value.currency is not None


async def test_errors_from_add_fail_the_run_fast() -> None:
    async with mews_simulator(forbidden={"Bill"}) as (sim, api):
        with pytest.raises(HTTPError) as info:
            await run(mews_source(sim, ["Bill"]), CallbackSink(lambda batch: None))
    assert info.value.status == 403
    assert "no permission to export Bill" in str(info.value)
    assert info.value.request_id and info.value.request_id in str(info.value)


def test_invalid_requests_are_config_errors_before_any_request() -> None:
    with pytest.raises(ConfigError, match="require a posting date interval"):
        mews_source_offline(["LedgerEntry"])
    with pytest.raises(ConfigError, match="unknown Mews entity type 'Orderitem'"):
        mews_source_offline(["Orderitem"])


def mews_source_offline(entity_types):
    from streamer.providers.mews import MewsSource

    return MewsSource(
        platform_url="https://api.mews-demo.com",
        client_token=DEMO_CLIENT_TOKEN,
        access_token=DEMO_ACCESS_TOKEN,
        entity_types=entity_types,
    )
