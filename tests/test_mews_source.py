"""Expiring file URLs: re-signed through exports/getAll, resumed with Range, exactly once."""

from __future__ import annotations

from collections import Counter

import pytest

from streamer import ExportError, RunStats, StreamConfig, run
from streamer.http.retry import RetryPolicy
from streamer.simulator import FaultPlan
from streamer.sinks.callback import CallbackSink
from tests.support.mews import mews_simulator, mews_source

FAST_RETRY = RetryPolicy(max_attempts=8, initial_delay=0.05, max_delay=0.2, jitter=0.05)


async def run_collect(source, **config) -> tuple[Counter, RunStats]:
    seen: Counter = Counter()

    def collect(batch) -> None:
        seen.update(r.data["Id"] for r in batch.records)

    stats = await run(source, CallbackSink(collect), config=StreamConfig(retry=FAST_RETRY, **config))
    return seen, stats


async def test_urls_older_than_80_percent_of_their_ttl_are_resigned_before_a_request() -> None:
    # 1 s URLs, parts queued behind one another at ~0.5 s each: later parts start
    # with stale URLs and a resumed part asks again after its URL aged.
    faults = FaultPlan(seed=5, bytes_per_second=600_000, drop_rate=0.3)
    async with mews_simulator(url_ttl=1.0, faults=faults, records=900, parts=3) as (sim, api):
        source = mews_source(sim, ["OrderItem", "Payment"], url_ttl=1.0)
        seen, stats = await run_collect(source, concurrency=2)
    assert set(seen.values()) == {1}
    assert sorted(seen) == sorted(i for e in api.exports.values() for i in e.ids())
    assert stats.url_refreshes >= 2
    getalls = [a for a, _ in api.calls].count("getAll")
    assert getalls > source.lifecycle.polls - stats.url_refreshes  # refreshes went through getAll


async def test_a_url_that_expires_mid_download_is_resigned_and_resumed_with_range() -> None:
    # The source believes URLs live 10 minutes; the server expires them after
    # 0.4 s.  Every part is cut mid-body after its URL expired: the resume gets
    # 403 "Request has expired", re-signs through getAll, and continues with Range.
    faults = FaultPlan(seed=9, bytes_per_second=120_000, throttle_rate=0.1, retry_after=0)
    async with mews_simulator(url_ttl=0.4, faults=faults, records=600, parts=2, throttle_rate=0.2, retry_after=0) as (
        sim,
        api,
    ):
        source = mews_source(sim, ["Customer", "Bill"], retry=FAST_RETRY)

        def on_created(entity: str, export_id: str) -> None:
            # Cut every file at 60% of its size, well after its URL expired.
            export = sim.exports[export_id]
            for index in range(len(export.files)):
                faults.drop_at[f"{export_id}/{index}"] = [int(export.file_size(index) * 0.6)]

        source.on_export_created = on_created
        seen, stats = await run_collect(source, concurrency=4)
    assert set(seen.values()) == {1}
    assert sorted(seen) == sorted(i for e in api.exports.values() for i in e.ids())
    assert faults.injected.get("drop", 0) == 4
    assert stats.url_refreshes >= 4
    ranged = [h["Range"] for method, path, h in sim.requests if path.startswith("/files/") and "Range" in h]
    assert len(ranged) >= 4 and all(r.startswith("bytes=") and r != "bytes=0-" for r in ranged)
    assert ("getAll", 429) in api.rejected  # 429s fired on the control plane meanwhile


async def test_an_export_that_expires_during_the_download_is_a_clear_error() -> None:
    faults = FaultPlan(seed=2, bytes_per_second=300_000)
    async with mews_simulator(url_ttl=0.3, faults=faults, records=500, parts=1) as (sim, api):
        source = mews_source(sim, ["Payment"], retry=FAST_RETRY)

        def on_created(entity: str, export_id: str) -> None:
            faults.drop_at[f"{export_id}/0"] = [sim.exports[export_id].file_size(0) // 2]

        source.on_export_created = on_created
        expired = []

        def expire_on_first_batch(batch) -> None:
            if not expired:
                api.expire(batch.part.export_id)
                expired.append(batch.part.export_id)

        with pytest.raises(ExportError, match="became Expired during the download"):
            await run(source, CallbackSink(expire_on_first_batch), config=StreamConfig(retry=FAST_RETRY, batch_size=50))


async def test_parts_of_one_export_share_a_refresh_but_never_get_their_old_url_back() -> None:
    import asyncio

    from streamer.providers.mews.lifecycle import ExportFile, MewsExport
    from streamer.providers.mews.source import _ExportRefresher

    class CountingLifecycle:
        calls = 0

        async def refresh(self, export_id: str) -> MewsExport:
            self.calls += 1
            await asyncio.sleep(0.01)
            files = [ExportFile(f"https://files/{i}?sig={self.calls}", 100) for i in range(3)]
            return MewsExport(export_id, "OrderItem", "Success", files)

    lifecycle = CountingLifecycle()
    first = MewsExport("e1", "OrderItem", "Success", [ExportFile(f"https://files/{i}?sig=0", 100) for i in range(3)])
    refresher = _ExportRefresher(lifecycle, first, max_age=60.0)  # type: ignore[arg-type]
    urls = await asyncio.gather(*(refresher.for_file(i)() for i in range(3)))
    assert urls == [f"https://files/{i}?sig=1" for i in range(3)] and lifecycle.calls == 1
    # Part 0 asks again (its sig=1 URL was rejected): a new getAll, not the same URL.
    assert await refresher.for_file(0)() == "https://files/0?sig=2" and lifecycle.calls == 2
    assert await refresher.for_file(1)() == "https://files/1?sig=2" and lifecycle.calls == 2
