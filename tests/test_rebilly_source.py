"""RebillySource against the simulated Rebilly API: lifecycle, formats, errors, links."""

from __future__ import annotations

import time

import pytest

from streamer.engine.config import StreamConfig
from streamer.errors import ConfigError, ExportError, ExportFailedError, ExportTimeoutError, HTTPError
from streamer.http.retry import RetryPolicy
from streamer.providers.rebilly import DateRange, ExportRequest, Recurring, RebillySource
from streamer.simulator import FaultPlan
from tests.support.rebilly import FAST_RETRY, ORG, collect, make_source, rebilly_sim


def ids_of(records):
    return [r.data["id"] for r in records]


def created_export(state, source):
    return state.exports[source.exports[0]["id"]]


# ----------------------------------------------------------------- lifecycle


async def test_create_polls_every_status_then_streams_csv_exactly_once():
    async with rebilly_sim(records=2500, timeline={"pending": 2, "queued": 1, "processing": 3}) as (sim, state):
        source = make_source(sim, state)
        records = await collect(source)
        export = created_export(state, source)
        assert ids_of(records) == export.ids and len(records) == 2500
        seen = [r["body"]["status"] for r in state.responses if r["operation"] == "get"]
        assert seen == ["pending", "pending", "queued", "processing", "processing", "processing", "completed"]
        # CSV values stay strings; the part is labelled with the export's resource and id.
        assert records[0].part.entity_type == "transactions" and records[0].part.export_id == export.id
        assert records[0].line == 2 and isinstance(records[0].data["amount"], str)


async def test_create_request_body_carries_every_option():
    async with rebilly_sim(records=10, timeline={}) as (sim, state):
        request = ExportRequest(
            resource="customers",
            format="json",
            name="nightly customers",
            filter="tags:vip",
            sort="-createdTime",
            q="example.com",
            fields=("email", "createdTime"),
            date_range=DateRange("yesterday", "today", "updatedTime"),
            recurring=Recurring("FREQ=DAILY;BYHOUR=2", "2026-01-01T02:00:00Z"),
            email_notification=("ops@example.com",),
        )
        records = await collect(make_source(sim, state, request=request))
        body = next(r["body"] for r in state.requests if r["method"] == "POST")
        assert body == {
            "name": "nightly customers",
            "format": "json",
            "resource": "customers",
            "arguments": {"filter": "tags:vip", "sort": "-createdTime", "q": "example.com"},
            "fields": ["email", "createdTime"],
            "dateRange": {"start": "yesterday", "end": "today", "field": "updatedTime"},
            "recurring": {"instruction": "FREQ=DAILY;BYHOUR=2", "start": "2026-01-01T02:00:00Z"},
            "emailNotification": ["ops@example.com"],
        }
        assert len(records) == 10 and set(records[0].data) == {"id", "email", "createdTime"}


async def test_failed_export_raises_with_its_failure_reason():
    async with rebilly_sim(records=10) as (sim, state):
        state.fail_next = "The report query timed out on the warehouse"
        with pytest.raises(ExportError, match="failed: The report query timed out on the warehouse"):
            await collect(make_source(sim, state))


async def test_deadline_raises_export_timeout():
    async with rebilly_sim(records=10, timeline={"pending": 1, "processing": 10_000}) as (sim, state):
        source = make_source(sim, state, timeout=0.3, poll_interval=0.05, max_poll_interval=0.05)
        started = time.monotonic()
        with pytest.raises(ExportTimeoutError, match="still processing after 0.3s"):
            await collect(source)
        assert time.monotonic() - started < 5


async def test_attach_to_existing_exports_by_id_with_jwt():
    async with rebilly_sim() as (sim, state):
        first = state.add_export("customers", "json", records=300)
        second = state.add_export("transactions", "csv", records=200)
        records = await collect(make_source(sim, state, jwt=True, export_ids=[first.id, second.id]))
        assert sorted(ids_of(records)) == sorted(first.ids + second.ids)
        assert not any(r["method"] == "POST" for r in state.requests)
        assert all(r["headers"].get("Authorization") == f"Bearer {state.jwt}" for r in state.requests)
        assert all("REB-APIKEY" not in r["headers"] for r in state.requests)


async def test_listing_walks_every_page_with_pagination_headers():
    async with rebilly_sim() as (sim, state):
        done = [state.add_export("transactions", "csv", records=5 + i) for i in range(7)]
        state.add_export("transactions", "csv", records=5, failure_reason="never streamed: filtered out")
        source = make_source(sim, state, from_list=True, list_filter="status:completed", page_size=3)
        records = await collect(source)
        assert sorted(ids_of(records)) == sorted(i for e in done for i in e.ids)
        pages = [r for r in state.requests if r["operation"] == "list"]
        assert [p["query"]["offset"] for p in pages] == ["0", "3", "6"]
        assert all(p["query"]["limit"] == "3" and p["query"]["filter"] == "status:completed" for p in pages)
        listed = [r for r in state.responses if r["operation"] == "list"]
        assert {r["headers"]["Pagination-Total"] for r in listed} == {"7"}


async def test_listing_skips_failed_and_recordless_exports_with_a_warning(caplog):
    async with rebilly_sim() as (sim, state):
        good = [state.add_export("transactions", "csv", records=5 + i) for i in range(3)]
        failed = state.add_export("transactions", "csv", records=5, failure_reason="the warehouse timed out")
        xml = state.add_export("transactions", "xml", records=5)
        source = make_source(sim, state, from_list=True, page_size=2)
        with caplog.at_level("WARNING", logger="streamer"):
            records = await collect(source)
        assert sorted(ids_of(records)) == sorted(i for e in good for i in e.ids)
        assert dict(source.skipped).keys() == {failed.id, xml.id}
        assert "the warehouse timed out — skipped" in caplog.text
        assert "xml exports carry no line records" in caplog.text


async def test_listing_does_not_skip_an_export_it_cannot_judge():
    async with rebilly_sim() as (sim, state):
        state.add_export("transactions", "csv", records=5)
        state.add_export("transactions", "csv", records=5, status="archived")  # a status Rebilly might add
        with pytest.raises(ExportError, match="unknown status 'archived'") as info:
            await collect(make_source(sim, state, from_list=True))
        assert not isinstance(info.value, ExportFailedError)


async def test_an_attached_failed_export_still_fails_the_run():
    async with rebilly_sim() as (sim, state):
        good = state.add_export("transactions", "csv", records=5)
        failed = state.add_export("transactions", "csv", records=5, failure_reason="the warehouse timed out")
        with pytest.raises(ExportFailedError, match="the warehouse timed out"):
            await collect(make_source(sim, state, export_ids=[good.id, failed.id]))


async def test_plain_prefix_is_configurable():
    async with rebilly_sim(records=20, timeline={}) as (sim, state):
        records = await collect(make_source(sim, state, path_prefix="/data-exports"))
        assert len(records) == 20
        assert all(r["path"].startswith(f"/organizations/{ORG}/data-exports") for r in state.requests if r["prefix"])


# -------------------------------------------------------------------- formats


@pytest.mark.parametrize("fmt", ["csv", "json", "json-api"])
async def test_each_format_streams_every_record_once(fmt):
    async with rebilly_sim(records=3000, timeline={"processing": 1}) as (sim, state):
        source = make_source(sim, state, request=ExportRequest(resource="transactions", format=fmt))
        records = await collect(source)
        export = created_export(state, source)
        assert ids_of(records) == export.ids
        if fmt == "json-api":
            assert records[0].data["type"] == "transactions" and "attributes" in records[0].data
        if fmt == "json":
            assert records[0].data["billingAddress"]["country"] in {"US", "CA", "DE"}
        content = state.content(export)
        for record in records[:50]:
            assert content[record.offset : record.offset + 1] in (b"{", record.data["id"][:1].encode())
            assert content[: record.offset].count(b"\n") + 1 == record.line


@pytest.mark.parametrize("fmt", ["csv", "json", "json-api"])
@pytest.mark.parametrize("streamed", [False, True])
async def test_zip_of_parts_streams_part_by_part(fmt, streamed):
    async with rebilly_sim(records=2500, zip_threshold=1000, zip_part_records=700, zip_streamed=streamed) as (sim, state):
        source = make_source(sim, state, request=ExportRequest(resource="customers", format=fmt))
        records = await collect(source)
        export = created_export(state, source)
        assert export.zipped and ids_of(records) == export.ids
        members = {r.part.name.rsplit("[", 1)[-1] for r in records}
        assert len(members) == 4  # 700 + 700 + 700 + 400
        assert records[-1].part.key == records[0].part.key  # one checkpoint key for the whole archive


@pytest.mark.parametrize("fmt", ["xml", "pdf"])
async def test_xml_and_pdf_are_refused_before_any_request(fmt):
    with pytest.raises(ConfigError, match=f"{fmt} exports carry no line records"):
        RebillySource(organization_id=ORG, api_key="k" * 12, request=ExportRequest(format=fmt))


async def test_attaching_to_an_xml_export_is_refused_without_downloading():
    async with rebilly_sim() as (sim, state):
        export = state.add_export("transactions", "xml", records=10)
        with pytest.raises(ConfigError, match="xml exports carry no line records"):
            await collect(make_source(sim, state, export_ids=[export.id]))
        assert not any(r["operation"] == "download" for r in state.requests)


# --------------------------------------------------------------------- errors


async def test_429_with_epoch_retry_after_is_honoured():
    async with rebilly_sim(records=50, timeline={"processing": 1}, throttle_first=2, retry_after=1) as (sim, state):
        started = time.monotonic()
        records = await collect(make_source(sim, state))
        assert len(records) == 50 and state.throttled == 2
        throttled = [r for r in state.responses if r["status"] == 429]
        assert all(int(r["headers"]["X-RateLimit-Retry-After"]) > 1_700_000_000 for r in throttled)
        # each 429 asked for (at least) the rest of the current second plus one: honoured, not the 10 ms backoff
        assert time.monotonic() - started >= 1.0


async def test_random_503s_and_dropped_connections_still_deliver_exactly_once():
    faults = FaultPlan(seed=5, error_rate=0.25, drop_rate=0.3, retry_after=0.01)
    async with rebilly_sim(records=4000, faults=faults, links=("download",)) as (sim, state):
        source = make_source(sim, state, request=ExportRequest(format="json"))
        records = await collect(source, StreamConfig(retry=RetryPolicy(max_attempts=10, initial_delay=0.01, jitter=0.0)))
        assert ids_of(records) == created_export(state, source).ids
        assert faults.injected.get("503", 0) >= 1 and faults.injected.get("drop", 0) >= 1


async def test_422_shows_invalid_fields():
    async with rebilly_sim() as (sim, state):
        request = ExportRequest(resource="transactions", format="csv", recurring=Recurring("every day please"))
        with pytest.raises(HTTPError) as caught:
            await collect(make_source(sim, state, request=request))
        message = str(caught.value)
        assert caught.value.status == 422
        assert "Invalid data: The data export request is invalid." in message
        assert "invalid fields: recurring.instruction: must be an RFC 5545 RRULE" in message


async def test_422_data_export_limit_exceeded_shows_the_counts():
    async with rebilly_sim(records=5000, max_records=1000) as (sim, state):
        with pytest.raises(HTTPError) as caught:
            await collect(make_source(sim, state))
        message = str(caught.value)
        assert "[data-export-limit-exceeded]" in message
        assert "the export matches 5000 records, the limit is 1000" in message


async def test_problem_body_of_a_missing_export_and_bad_credentials():
    async with rebilly_sim() as (sim, state):
        with pytest.raises(HTTPError, match=r"Not Found: Data export nope-404 was not found\. \[https://") as caught:
            await collect(make_source(sim, state, export_ids=["nope-404"]))
        assert caught.value.status == 404
        source = RebillySource(organization_id=ORG, api_key="wrong-key-123456", base_url=sim.base_url, retry=FAST_RETRY)
        with pytest.raises(HTTPError, match="Unauthorized") as caught:
            await collect(source)
        assert caught.value.status == 401 and "wrong-key-123456" not in str(caught.value)


# ---------------------------------------------------------------------- links


@pytest.mark.parametrize("links", [("signedLink",), ("download",), ("fileId",), ("embedded",)])
async def test_every_kind_of_link_leads_to_the_file(links):
    async with rebilly_sim(records=400, links=links) as (sim, state):
        source = make_source(sim, state)
        records = await collect(source)
        assert ids_of(records) == created_export(state, source).ids
        redirects = [r for r in state.responses if r["operation"] == "download"]
        assert (len(redirects) == 1 and redirects[0]["status"] == 302) if links != ("signedLink",) else not redirects


async def test_expired_link_is_refreshed_and_the_download_resumes_with_range():
    # Links live 1 s; the file is served at 400 kB/s and the connection drops at byte 500 000
    # (after ~1.25 s): the retry meets an expired link (403), must re-sign it and resume with Range.
    faults = FaultPlan(seed=3, bytes_per_second=400_000, drop_at={"*": [500_000]})
    async with rebilly_sim(records=2500, url_ttl=1.0, faults=faults, links=("download",)) as (sim, state):
        source = make_source(sim, state)
        config = StreamConfig(retry=FAST_RETRY, url_refresh_after=10.0)  # no early re-sign: provoke the 403
        records = await collect(source, config)
        export = created_export(state, source)
        assert ids_of(records) == export.ids
        assert len(state.content(export)) > 600_000
        files = [h for m, p, h in sim.requests if p.startswith("/rebilly-files/")]
        assert files[-1].get("Range", "").startswith("bytes=5"), "the download resumes with Range after the re-sign"
        assert sum(1 for r in state.responses if r["operation"] == "download") >= 2  # the link was re-signed


class _Crash(Exception):
    pass


@pytest.mark.parametrize("fmt,zipped", [("json", False), ("csv", True), ("json-api", True)])
async def test_a_new_run_resumes_from_checkpoints_exactly_once(fmt, zipped):
    """A run dies at its third batch; a second run (attached by id) resumes from the checkpoint."""
    from streamer import CallbackSink, run

    options = {"zip_threshold": 1000, "zip_part_records": 6000} if zipped else {}
    # 64 KiB pieces at a steady pace, so that the archive arrives in many chunks (many batches).
    async with rebilly_sim(faults=FaultPlan(seed=2, bytes_per_second=8_000_000), **options) as (sim, state):
        export = state.add_export("transactions", fmt, records=20_000)
        acknowledged: list[str] = []
        checkpoints: dict = {}

        def first_sink(batch):
            if first_sink.calls == 2:
                raise _Crash("the process dies mid-export")
            first_sink.calls += 1
            acknowledged.extend(r.data["id"] for r in batch)

        first_sink.calls = 0
        config = StreamConfig(retry=FAST_RETRY, batch_size=100)
        with pytest.raises(_Crash):
            await run(make_source(sim, state, export_ids=[export.id]), CallbackSink(first_sink), config=config,
                      on_checkpoint=lambda cp: checkpoints.__setitem__(cp.part_key, cp))
        (checkpoint,) = checkpoints.values()
        assert 0 < len(acknowledged) < 20_000 and not checkpoint.done
        assert checkpoint.decoder_state["mode"] == ("zip" if zipped else "plain")

        second: list[str] = []
        await run(make_source(sim, state, export_ids=[export.id]),
                  CallbackSink(lambda batch: second.extend(r.data["id"] for r in batch)),
                  config=config, checkpoints=checkpoints)
        assert export.zipped == zipped
        assert acknowledged + second == export.ids  # nothing lost, nothing repeated
