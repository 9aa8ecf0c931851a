"""Regression tests for engine bugs the fault suite found."""

from __future__ import annotations

import gzip

import pytest

from streamer import RetryPolicy, StreamConfig, stream
from streamer.decoding.badlines import BadLines
from streamer.decoding.base import DecoderStart
from streamer.decoding.gzip import MAX_PIECE, GunzipStream
from streamer.decoding.jsonl import JsonlDecoder
from streamer.decoding.lines import BOM, LineSplitter
from streamer.records import PartInfo
from streamer.simulator import Simulator
from tests.support.faults import SimSource

pytestmark = pytest.mark.faults


def test_gzip_member_larger_than_a_piece_then_another_member():
    """Bug: a member whose output exceeded MAX_PIECE left a stale copy of the
    next member's bytes in ``unconsumed_tail``; both were fed, corrupting the
    stream ("incorrect data check", or silently spliced records).  Seen with
    the simulator's multi-member gzip files (seeds 220, 227, 365)."""
    first = b"".join(b'{"n":%d,"pad":"%s"}\n' % (i, b"x" * (i % 97)) for i in range(40_000))
    assert len(first) > MAX_PIECE
    second = b'{"n":"second member"}\n'
    data = gzip.compress(first, mtime=0) + gzip.compress(second, mtime=0)
    gunzip = GunzipStream()
    assert b"".join(gunzip.feed(data)) == first + second
    assert not gunzip.truncated


def test_an_empty_chunk_does_not_make_a_phantom_last_line():
    """Bug: feeding ``b""`` (or a BOM-only file) left an empty pending piece that
    ``finish`` returned as one more (empty) line, off-by-one in ``line``."""
    splitter = LineSplitter(part="p", max_line_bytes=1024)
    assert splitter.feed(b'{"a":1}\n') == [b'{"a":1}']
    assert splitter.feed(b"") == []
    assert splitter.finish() == []
    assert (splitter.offset, splitter.line) == (8, 1)
    bom_only = LineSplitter(part="p", max_line_bytes=1024)
    assert bom_only.feed(BOM) == [] and bom_only.finish() == []
    assert (bom_only.offset, bom_only.line) == (3, 0)


@pytest.mark.parametrize("split", [0, 1, 2, 3, 5])
def test_first_record_offset_points_past_the_bom(split):
    """Bug: the first record of a file with a BOM had offset 0 (the BOM), not 3."""
    body = BOM + b'{"a":1}\n{"b":2}\n'
    decoder = JsonlDecoder(DecoderStart(PartInfo("t", 0), BadLines(), max_line_bytes=1024), {})
    out: list = []
    decoder.feed(body[:split], out)
    decoder.feed(body[split:], out)
    assert [(r.line, r.offset) for r in out] == [(1, 3), (2, 11)]


async def test_leaving_a_batches_loop_early_closes_it_with_the_stream(tmp_path):
    """Bug: ``async with stream(...) as s: async for b in s.batches(): break``
    left the batches generator (and the engine task) running until garbage
    collection, so its state was saved late — after a resumed run had read it."""
    state = tmp_path / "state.json"
    async with Simulator(seed=61) as sim:
        export = sim.add_export("Payment", records=3000, parts=2)
        config = StreamConfig(batch_size=50, retry=RetryPolicy(max_attempts=2))
        async with stream(SimSource(sim, [export]), config=config, state=state) as records:
            async for _ in records.batches():
                break
        # closed on leaving `async with`: the run is stopped and its state final
        assert records.stats.finished is not None
        assert '"interrupted"' in state.read_text()


async def test_transport_errors_that_outlive_the_retries_name_the_part():
    """Bug: once the retries ran out, the raw aiohttp error (e.g.
    ``ClientConnectorError``) escaped: no part named, and the CLI printed a
    traceback instead of its one-line error and exit code 1."""
    import socket

    from streamer import PartError, stream_urls

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    with pytest.raises(PartError) as info:
        async for _ in stream_urls([f"http://127.0.0.1:{port}/x.jsonl?sig=s3cr3t&expires=1"],
                                   retry=RetryPolicy(max_attempts=2, initial_delay=0.01)):
            pass
    message = str(info.value)
    assert message.startswith("part 0 (x.jsonl): gave up at byte 0 after 2 attempts")
    assert "Cannot connect" in message and "s3cr3t" not in message
