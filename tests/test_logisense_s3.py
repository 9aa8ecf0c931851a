"""Done-when of issue 4: a multi-MB LogiSense CSV export through 1-second presigned
links of a real S3 implementation (moto), with a forced mid-stream drop.

Every row arrives exactly once and in order, the ``exportRowCount`` check
passes, and the S3 side shows what happened: the first GET (200), the link
rejected after the drop (403 "Request has expired"), a fresh link from
``History/{id}/Download`` and a ranged resume (206, served by moto).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from streamer import Batch, CallbackSink, Checkpoint, LogisenseSource, RetryPolicy, StreamConfig, stream
from streamer.engine.runner import run_export
from streamer.errors import RowCountMismatchError
from streamer.simulator import Simulator
from streamer.simulator.logisense import LogisenseApi, SimHistory, install
from tests.support.s3 import MotoS3, S3ExpiryFront

LINK_SECONDS = 1
ROWS = 40_000  # ≈ 4.4 MB of CSV with quoted commas, quotes and newlines


@pytest.fixture(scope="module")
def s3() -> Iterator[MotoS3]:
    with MotoS3() as server:
        yield server


@pytest.fixture
async def front(s3: MotoS3) -> AsyncIterator[S3ExpiryFront]:
    async with S3ExpiryFront(upstream=s3.endpoint) as proxy:
        yield proxy


@pytest.fixture
async def tenant(s3: MotoS3, front: S3ExpiryFront) -> AsyncIterator[tuple[Simulator, LogisenseApi]]:
    sim = Simulator(seed=11)

    def presigned_link(history: SimHistory) -> str:
        return front.presign(s3.bucket, history.storage_key, LINK_SECONDS)

    api = install(sim, link_factory=presigned_link, ready_made=False)
    async with sim:
        yield sim, api


def source_for(sim: Simulator, history_ids: list[int], **options: object) -> LogisenseSource:
    return LogisenseSource(
        base_url=f"{sim.base_url}/ResourceServer/api/v10/",
        auth_url=sim.base_url,
        username="demo",
        password="demo-password",
        client_id="streamer",
        history_ids=history_ids,
        poll_interval=0.05,
        **options,  # type: ignore[arg-type]
    )


FAST_RETRY = StreamConfig(retry=RetryPolicy(initial_delay=0.05, jitter=0.05), batch_size=2000)


@pytest.mark.parametrize("announced_ttl", [30.0, LINK_SECONDS], ids=["expiry-discovered-by-403", "ttl-known"])
async def test_multi_mb_csv_through_one_second_links_with_a_drop(
    s3: MotoS3, front: S3ExpiryFront, tenant: tuple[Simulator, LogisenseApi], announced_ttl: float
) -> None:
    sim, api = tenant
    history = api.add_history(ROWS, bom=True)
    data = history.content
    assert len(data) > 4_000_000
    s3.put(history.storage_key, data)
    front.drop_once_at = len(data) // 2
    front.hold_before_drop = LINK_SECONDS + 0.3  # the link dies while the connection hangs

    seen: list[str] = []
    async with stream(source_for(sim, [history.identity], url_ttl=announced_ttl), config=FAST_RETRY) as records:
        async for record in records:
            seen.append(record.data["rowId"])
            if len(seen) == 6:
                assert record.data["description"].count("\n") == 1  # quoted newline kept (row 0 mod 5)
    stats = records.stats

    assert seen == history.ids()  # every row, once, in file order
    assert stats.records == ROWS and stats.retries >= 1 and stats.url_refreshes >= 1
    assert api.downloads[history.identity] >= 2  # a fresh link came from History/{id}/Download
    assert front.drop_once_at is None  # the drop happened
    statuses = front.statuses
    # X-Amz-Date has whole seconds, so a 1 s link lives 0-1 s: on a loaded machine even the first GET
    # may find it expired (403, re-signed). The first answer that serves bytes is the whole file.
    assert next(s for s in statuses if s != 403) == 200
    assert statuses[-1] == 206 and front.answers[-1][1] is not None  # moto served the resume ranged
    if announced_ttl > LINK_SECONDS:
        assert 403 in statuses  # S3 said "Request has expired"; the engine re-signed and resumed


async def test_expired_link_is_answered_like_s3(s3: MotoS3, front: S3ExpiryFront) -> None:
    s3.put("probe.csv", b"a,b\n1,2\n")
    url = front.presign(s3.bucket, "probe.csv", 1)
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers={"Range": "bytes=4-"}) as response:
            assert response.status == 206
            assert await response.read() == b"1,2\n"
        signed_at = url.split("X-Amz-Date=")[1][:16]
        stale = url.replace(signed_at, "20200101T000000Z")
        async with session.get(stale) as response:
            body = await response.text()
            assert response.status == 403
            assert "<Code>AccessDenied</Code><Message>Request has expired</Message>" in body


async def test_row_count_mismatch_names_history_and_counts(
    s3: MotoS3, tenant: tuple[Simulator, LogisenseApi]
) -> None:
    sim, api = tenant
    history = api.add_history(500, announced_rows=501)
    s3.put(history.storage_key, history.content)
    with pytest.raises(RowCountMismatchError) as caught:
        async with stream(source_for(sim, [history.identity]), config=FAST_RETRY) as records:
            async for _ in records:
                pass
    message = str(caught.value)
    assert f"DataExportHistory {history.identity}" in message
    assert "announced 501 rows" in message and "has 500 data rows" in message
    assert caught.value.expected == 501 and caught.value.actual == 500


async def test_cold_resume_from_a_checkpoint_delivers_the_rest_once(
    s3: MotoS3, front: S3ExpiryFront, tenant: tuple[Simulator, LogisenseApi]
) -> None:
    """A new process resumes from the last acknowledged batch: a ranged GET on a
    fresh link, the header and the row count taken from the checkpoint."""
    sim, api = tenant
    history = api.add_history(12_000, bom=True)
    s3.put(history.storage_key, history.content)
    config = StreamConfig(retry=RetryPolicy(initial_delay=0.05, jitter=0.05), batch_size=1000)

    class SinkCrashed(Exception):
        pass

    delivered: list[str] = []
    saved: dict[str, Checkpoint] = {}

    async def crashing_sink(batch: Batch) -> None:
        if len(delivered) >= 5000:
            raise SinkCrashed
        delivered.extend(record.data["rowId"] for record in batch.records)

    with pytest.raises(SinkCrashed):
        await run_export(
            source_for(sim, [history.identity]),
            CallbackSink(crashing_sink),
            config=config,
            on_checkpoint=lambda checkpoint: saved.__setitem__(checkpoint.part_key, checkpoint),
        )
    (checkpoint,) = saved.values()
    assert not checkpoint.done and checkpoint.decoder_state is not None
    assert checkpoint.decoder_state["header"][0] == "rowId"
    requests_before = len(front.answers)

    rest: list[str] = []

    async def collecting_sink(batch: Batch) -> None:
        rest.extend(record.data["rowId"] for record in batch.records)

    await run_export(source_for(sim, [history.identity]), CallbackSink(collecting_sink), config=config, checkpoints=saved)
    assert delivered + rest == history.ids()  # exactly once across the two runs; row count check passed
    assert front.answers[requests_before] == (206, f"bytes={checkpoint.offset}-")
