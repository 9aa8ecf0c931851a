"""Network faults against the simulator: every record exactly once, or a clear error.

Each test injects one kind of fault (on top of the simulator's real chunked
HTTP), runs the export into a JSONL file and checks the file holds every
record of the export exactly once.
"""

from __future__ import annotations

import random

import pytest

from streamer import HTTPConfig, JsonlSink, PartError, RetryPolicy, SizeMismatchError, StreamConfig, run
from streamer.simulator import FaultPlan, Simulator
from tests.support.faults import SimSource, assert_exactly_once, expected_ids, ids_in_file

pytestmark = [pytest.mark.faults, pytest.mark.timeout(60)]

FAST_RETRY = RetryPolicy(max_attempts=12, initial_delay=0.01, max_delay=0.05, jitter=0.01)


def fast_config(**overrides) -> StreamConfig:
    options = dict(concurrency=4, batch_size=200, retry=FAST_RETRY)
    options.update(overrides)
    return StreamConfig(**options)


async def _run_to_file(source, tmp_path, config=None, **kwargs):
    out = tmp_path / "out.jsonl"
    stats = await run(source, JsonlSink(out), config=config or fast_config(), **kwargs)
    return stats, ids_in_file(out)


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
async def test_drops_at_random_offsets_in_many_parts_at_once(tmp_path, gzip):
    rng = random.Random(20261123)
    faults = FaultPlan(seed=1)
    async with Simulator(seed=3, faults=faults) as sim:
        exports = [sim.add_export(e, records=1500, parts=4, gzip=gzip) for e in ("OrderItem", "Payment")]
        planned = 0
        for export in exports:
            for i in range(len(export.files)):
                size = export.file_size(i)
                offsets = sorted(rng.sample(range(1, size - 1), 3))
                faults.drop_at[f"{export.id}/{i}"] = offsets
                planned += len(offsets)
        stats, ids = await _run_to_file(SimSource(sim, exports), tmp_path)
    assert faults.injected.get("drop") == planned, "not every planned drop fired"
    assert stats.retries >= planned
    assert_exactly_once(ids, expected_ids(exports))


async def test_server_ignoring_range_on_resume(tmp_path):
    faults = FaultPlan(seed=2, ignore_range=True)
    async with Simulator(seed=4, faults=faults) as sim:
        export = sim.add_export("Payment", records=1200, parts=2)
        for i in range(2):
            faults.drop_at[f"{export.id}/{i}"] = [export.file_size(i) // 3, 2 * export.file_size(i) // 3]
        stats, ids = await _run_to_file(SimSource(sim, [export]), tmp_path)
    assert faults.injected.get("drop") == 4, "not every planned drop fired"
    assert stats.retries >= 4
    assert_exactly_once(ids, export.ids())


async def test_5xx_and_429_storms(tmp_path):
    faults = FaultPlan(seed=5, error_rate=0.35, throttle_rate=0.25, retry_after=0.0, drop_rate=0.05)
    async with Simulator(seed=5, faults=faults) as sim:
        exports = [sim.add_export("OrderItem", records=800, parts=6)]
        config = fast_config(retry=RetryPolicy(max_attempts=30, initial_delay=0.005, max_delay=0.02, jitter=0))
        stats, ids = await _run_to_file(SimSource(sim, exports), tmp_path, config)
    assert faults.injected.get("503", 0) > 0 and faults.injected.get("429", 0) > 0
    assert stats.retries >= faults.injected["503"] + faults.injected["429"]
    assert_exactly_once(ids, expected_ids(exports))


@pytest.mark.parametrize("tell_ttl", [False, True], ids=["reactive-403", "proactive"])
async def test_urls_expiring_mid_part_are_re_signed(tmp_path, tell_ttl):
    faults = FaultPlan(seed=6)
    async with Simulator(seed=6, faults=faults) as sim:
        export = sim.add_export("OrderItem", records=600, parts=3)
        # Each part takes ~1.2 s at this rate, its URL lives 0.4 s: every resume
        # after a late drop needs a fresh URL.
        faults.bytes_per_second = export.file_size(0) / 1.2
        for i in range(3):
            faults.drop_at[f"{export.id}/{i}"] = [int(export.file_size(i) * 0.8)]
        source = SimSource(sim, [export], url_ttl=0.4, tell_ttl=tell_ttl)
        stats, ids = await _run_to_file(source, tmp_path)
    assert faults.injected.get("drop") == 3, "a drop never fired: no resume needed a fresh URL"
    assert source.refreshes >= 3 and stats.url_refreshes >= 3
    assert_exactly_once(ids, export.ids())


async def test_expired_url_without_a_way_to_re_sign_is_a_clear_error(tmp_path):
    faults = FaultPlan(seed=7)
    async with Simulator(seed=7, faults=faults) as sim:
        export = sim.add_export("OrderItem", records=300, parts=1)
        faults.bytes_per_second = export.file_size(0) / 0.8
        faults.drop_at[f"{export.id}/0"] = [export.file_size(0) // 2]
        source = SimSource(sim, [export], url_ttl=0.2, refresh=False)
        with pytest.raises(PartError, match="no way to re-sign") as info:
            await _run_to_file(source, tmp_path)
    assert "sig=" not in str(info.value) and "expires=" not in str(info.value)
    assert export.id in str(info.value)


async def test_stalled_server_hits_the_read_timeout_and_resumes(tmp_path):
    faults = FaultPlan(seed=8, stall_seconds=20)
    async with Simulator(seed=8, faults=faults) as sim:
        export = sim.add_export("Payment", records=1000, parts=2)
        faults.stall_at[f"{export.id}/1"] = export.file_size(1) // 2
        config = fast_config(http=HTTPConfig(read_timeout=0.3))
        stats, ids = await _run_to_file(SimSource(sim, [export]), tmp_path, config)
    assert faults.injected.get("stall") == 1
    assert stats.parts[f"sim/{export.id}/1"].retries >= 1
    assert_exactly_once(ids, export.ids())


async def test_truncated_gzip_is_reported_not_silently_shortened(tmp_path):
    faults = FaultPlan(seed=9, chunked=True)  # no Content-Length: the gzip stream itself must tell
    async with Simulator(seed=9, faults=faults) as sim:
        export = sim.add_export("OrderItem", records=3000, parts=1, gzip=True)
        faults.short_by[f"{export.id}/0"] = 200
        out = tmp_path / "out.jsonl"
        with pytest.raises(PartError, match="gzip file is truncated") as info:
            await run(SimSource(sim, [export]), JsonlSink(out), config=fast_config(concurrency=1))
    assert export.file_name(0) in str(info.value)
    delivered = ids_in_file(out)
    assert delivered == export.ids()[: len(delivered)], "records before the truncation must be intact, in order"
    assert len(delivered) < 3000


@pytest.mark.parametrize("delta", [+64, -64], ids=["announced-bigger", "announced-smaller"])
async def test_part_size_differs_from_size_in_bytes(tmp_path, delta):
    async with Simulator(seed=10) as sim:
        export = sim.add_export("Payment", records=400, parts=2)
        wrong = {f"{export.id}/1": export.file_size(1) + delta}
        source = SimSource(sim, [export], sizes=wrong)
        with pytest.raises(SizeMismatchError, match=f"{export.file_size(1) + delta}") as info:
            await _run_to_file(source, tmp_path, fast_config(concurrency=1))
    assert export.file_name(1) in str(info.value)


async def test_server_serving_fewer_bytes_than_announced(tmp_path):
    faults = FaultPlan(seed=11)
    async with Simulator(seed=11, faults=faults) as sim:
        export = sim.add_export("Payment", records=400, parts=1)
        faults.short_by[f"{export.id}/0"] = 100
        with pytest.raises(SizeMismatchError, match=f"announced {export.file_size(0)}"):
            await _run_to_file(SimSource(sim, [export]), tmp_path)


async def test_size_check_can_be_disabled_for_sources_with_approximate_sizes(tmp_path):
    async with Simulator(seed=12) as sim:
        export = sim.add_export("Payment", records=400, parts=1)
        source = SimSource(sim, [export], sizes={f"{export.id}/0": export.file_size(0) + 10})
        _, ids = await _run_to_file(source, tmp_path, fast_config(check_size=False))
    assert_exactly_once(ids, export.ids())


async def test_short_file_with_content_length_is_refused_before_its_body(tmp_path):
    """A stored file shorter than announced: its Content-Length says so, before a record is delivered."""
    faults = FaultPlan(seed=9)
    async with Simulator(seed=9, faults=faults) as sim:
        export = sim.add_export("OrderItem", records=3000, parts=1, gzip=True)
        faults.short_by[f"{export.id}/0"] = 200
        out = tmp_path / "out.jsonl"
        with pytest.raises(PartError, match=r"server says the file has \d+ bytes \(Content-Length\) but the export announced") as info:
            await run(SimSource(sim, [export]), JsonlSink(out), config=fast_config(concurrency=1))
    assert export.file_name(0) in str(info.value)
    assert ids_in_file(out) == []
