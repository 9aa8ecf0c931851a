"""Resume after failures mid-part: every record exactly once, in file order."""

import pytest

import streamer
from streamer.simulator import FaultPlan, Simulator

FAST_RETRY = streamer.RetryPolicy(initial_delay=0.01, max_delay=0.05, jitter=0.01)


async def collect(urls, **options) -> tuple[list[str], streamer.RunStats]:
    ids: list[str] = []
    async with streamer.stream_urls(urls, retry=FAST_RETRY, **options) as records:
        async for record in records:
            ids.append(record.data["Id"])
        return ids, records.stats


def assert_exactly_once_in_order(ids: list[str], *exports) -> None:
    expected = [i for e in exports for i in e.ids()]
    assert len(ids) == len(expected)
    assert set(ids) == set(expected)
    assert len(set(ids)) == len(ids)
    # Within each part, file order is kept (ids encode part and record index).
    by_part: dict[str, list[str]] = {}
    for i in ids:
        by_part.setdefault(i[:13], []).append(i)
    for part_ids in by_part.values():
        assert part_ids == sorted(part_ids)


async def test_drop_mid_part_resumes_with_range_and_if_range(sim: Simulator, faults: FaultPlan) -> None:
    export = sim.add_export("OrderItem", records=3000, parts=3)
    size = export.files[1].size
    faults.drop_at[f"{export.id}/1"] = [size // 4, size // 2, size - 10]
    ids, stats = await collect(sim.file_urls(export))
    assert_exactly_once_in_order(ids, export)
    assert faults.injected["drop"] == 3
    assert stats.retries == 3
    ranged = [h for (_, path, h) in sim.requests if path.endswith("part-0001.jsonl") and "Range" in h]
    assert len(ranged) == 3
    assert all(h["If-Range"].startswith('"') for h in ranged)
    # Each resume starts exactly where the cut happened: no byte is fetched twice.
    assert [int(h["Range"][6:-1]) for h in ranged] == [size // 4, size // 2, size - 10]
    assert stats.parts[f"urls/{streamer.UrlSource(sim.file_urls(export)).group}/1"].bytes == size


async def test_drop_then_server_errors_then_resume(sim: Simulator, faults: FaultPlan) -> None:
    export = sim.add_export("Payment", records=2000, parts=2)
    faults.drop_at[f"{export.id}/0"] = [export.files[0].size // 2]
    faults.error_rate = 0.3
    faults.throttle_rate = 0.2
    faults.retry_after = 0.01
    ids, stats = await collect(sim.file_urls(export))
    assert_exactly_once_in_order(ids, export)
    assert stats.retries >= faults.injected["drop"] + faults.injected.get("503", 0) + faults.injected.get("429", 0)


async def test_server_ignoring_range_is_handled(sim: Simulator, faults: FaultPlan) -> None:
    export = sim.add_export("OrderItem", records=1500, parts=1)
    faults.drop_at[f"{export.id}/0"] = [export.files[0].size // 3]
    faults.ignore_range = True
    ids, stats = await collect(sim.file_urls(export))
    assert_exactly_once_in_order(ids, export)
    assert stats.retries == 1 and faults.injected["drop"] == 1  # the drop fired, and was the one retry
    ranged = [h for (_, p, h) in sim.requests if p.startswith("/files/") and "Range" in h]
    assert len(ranged) == 1  # resumed with Range, answered with 200: the prefix is discarded


async def test_gzip_file_resume_keeps_inflate_state(sim: Simulator, faults: FaultPlan) -> None:
    export = sim.add_export("Reservation", records=4000, parts=2, gzip=True)
    gz_size = export.file_size(0)
    faults.drop_at[f"{export.id}/0"] = [gz_size // 3, 2 * gz_size // 3]
    ids, stats = await collect(sim.file_urls(export))
    assert_exactly_once_in_order(ids, export)
    assert stats.retries == 2 and faults.injected["drop"] == 2


async def test_content_encoding_gzip_resume() -> None:
    faults = FaultPlan(seed=3)
    async with Simulator(faults=faults, content_encoding=True) as sim:
        export = sim.add_export("OrderItem", records=3000, parts=1)
        faults.drop_at[f"{export.id}/0"] = [export.files[0].gzip_size // 2]
        ids, stats = await collect(sim.file_urls(export))
        assert_exactly_once_in_order(ids, export)
        assert stats.retries == 1 and faults.injected["drop"] == 1
        encodings = [h.get("Accept-Encoding") for (_, p, h) in sim.requests if p.startswith("/files/")]
        assert encodings == ["gzip", "gzip"]


async def test_bom_and_crlf_files(sim: Simulator) -> None:
    export = sim.add_export("Customer", records=500, parts=2, bom=True, crlf=True)
    ids, _ = await collect(sim.file_urls(export))
    assert_exactly_once_in_order(ids, export)


async def test_ordered_mode_delivers_parts_in_sequence(sim: Simulator) -> None:
    export = sim.add_export("OrderItem", records=6000, parts=6)
    ids, _ = await collect(sim.file_urls(export), ordered=True, concurrency=3, batch_size=100)
    assert ids == export.ids()


async def test_unordered_mode_interleaves_but_keeps_part_order(sim: Simulator) -> None:
    export = sim.add_export("OrderItem", records=6000, parts=4)
    ids, _ = await collect(sim.file_urls(export), concurrency=4, batch_size=50)
    assert_exactly_once_in_order(ids, export)


async def test_expected_size_mismatch_is_reported(sim: Simulator, faults: FaultPlan) -> None:
    export = sim.add_export("OrderItem", records=300, parts=1)
    faults.short_by[f"{export.id}/0"] = 100
    source = streamer.UrlSource(sim.file_urls(export), sizes=[export.files[0].size])
    with pytest.raises(streamer.SizeMismatchError, match="announced"):
        await streamer.run(source, streamer.CallbackSink(lambda batch: None), retry=FAST_RETRY)


async def test_bad_lines_fail_with_location(sim: Simulator) -> None:
    export = sim.add_export("OrderItem", records=200, parts=1, corrupt={0: {57}})
    with pytest.raises(streamer.DecodeError) as info:
        await collect(sim.file_urls(export))
    assert info.value.line == 58
    assert info.value.offset == sum(export.files[0]._lengths[export.files[0]._template(0, j)] for j in range(57))
    assert "part 0 (part-0000.jsonl), line 58" in str(info.value)


async def test_bad_lines_skip_and_dead_letter(sim: Simulator, tmp_path) -> None:
    export = sim.add_export("OrderItem", records=400, parts=2, corrupt={0: {3, 100}, 1: {0}})
    dead = tmp_path / "dead.jsonl"
    ids, stats = await collect(sim.file_urls(export), bad_lines="skip", dead_letter=dead)
    assert_exactly_once_in_order(ids, export)
    assert stats.skipped_lines == 3
    assert len(dead.read_bytes().splitlines()) == 3


async def test_html_page_with_200_is_refused(sim: Simulator, faults: FaultPlan) -> None:
    export = sim.add_export("OrderItem", records=10, parts=1)
    faults.html_for.add(f"{export.id}/0")
    with pytest.raises(streamer.PartError, match="HTML page"):
        await collect(sim.file_urls(export))


async def test_expired_url_without_refresh_fails_clearly(sim: Simulator) -> None:
    export = sim.add_export("OrderItem", records=10, parts=1)
    url = sim.file_url(export, 0, ttl=-1)
    with pytest.raises(streamer.PartError, match="no way to re-sign") as info:
        await collect([url])
    assert "sig=" not in str(info.value)
    assert "Request has expired" in str(info.value)


async def test_expiring_url_is_refreshed_and_resumed(sim: Simulator, faults: FaultPlan) -> None:
    export = sim.add_export("OrderItem", records=2000, parts=1)
    faults.drop_at[f"{export.id}/0"] = [export.files[0].size // 2]
    refreshed = []

    async def refresh() -> str:
        refreshed.append(1)
        return sim.file_url(export, 0)

    class ExpiringSource:
        name = "expiring"

        async def parts(self, session):
            yield streamer.Part(
                info=streamer.PartInfo(source="expiring", index=0),
                url=sim.file_url(export, 0, ttl=0.05),
                refresh=refresh,
            )

    import asyncio

    ids: list[str] = []

    async def slow(batch) -> None:
        ids.extend(r.data["Id"] for r in batch.records)
        await asyncio.sleep(0.06)  # outlive the 50 ms link before the resume request

    # The resume waits 0.1 s: the 50 ms link has expired by then and must be re-signed.
    patient = streamer.RetryPolicy(initial_delay=0.1, max_delay=0.1, jitter=0)
    stats = await streamer.run(ExpiringSource(), streamer.CallbackSink(slow), retry=patient, batch_size=50)
    assert ids == export.ids()
    assert refreshed and stats.url_refreshes == len(refreshed)


def test_url_list_digest_ignores_signatures_but_not_files() -> None:
    from streamer.providers.urls import url_list_digest

    a = url_list_digest(["https://h/x/part-1.jsonl?sig=1", "https://h/x/part-2.jsonl?sig=1"])
    assert a == url_list_digest(["https://h/x/part-1.jsonl?sig=2", "https://h/x/part-2.jsonl?sig=9"])
    assert a != url_list_digest(["https://h/y/part-1.jsonl", "https://h/x/part-2.jsonl"])


@pytest.mark.parametrize("second_etag", ['W/"v1"', 'W/"v2"'], ids=["same", "changed"])
async def test_weak_etag_is_not_sent_as_if_range_but_is_still_compared(second_etag: str) -> None:
    from aiohttp import web

    body = b"".join(b'{"Id":"%05d"}\n' % i for i in range(2000))
    seen: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(dict(request.headers))
        first = len(seen) == 1
        ranged = request.headers.get("Range")
        if request.headers.get("If-Range", "").startswith("W/"):
            ranged = None  # RFC 9110 13.1.5: a weak validator never matches, the whole file comes back
        start = int(ranged[6:-1]) if ranged else 0
        response = web.StreamResponse(status=206 if ranged else 200)
        response.headers["ETag"] = 'W/"v1"' if first else second_etag
        response.content_type = "application/x-ndjson"
        if ranged:
            response.headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
        response.content_length = len(body) - start
        await response.prepare(request)
        if first:
            await response.write(body[:10_000])
            request.transport.close()  # cut mid-body
            return response
        await response.write(body[start:])
        return response

    app = web.Application()
    app.router.add_get("/weak.jsonl", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        url = f"http://127.0.0.1:{port}/weak.jsonl"
        if second_etag == 'W/"v1"':
            ids, stats = await collect([url])
            assert ids == [f"{i:05d}" for i in range(2000)]  # exactly once, in order
            assert stats.retries >= 1
            assert "Range" in seen[1] and "If-Range" not in seen[1]
        else:
            # Batches of 100: records were delivered before the cut, so the part cannot
            # restart from byte 0 (that case is in tests/faults/test_adversarial_servers.py).
            with pytest.raises(streamer.PartChangedError, match="file changed since it was first read"):
                await collect([url], batch_size=100)
    finally:
        await runner.cleanup()
