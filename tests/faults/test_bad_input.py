"""Bad input end to end (over HTTP, through the engine): a clear, located error,
or — under ``bad_lines="skip"`` — counted, dead-lettered, and the rest delivered."""

from __future__ import annotations

import gzip

import msgspec
import orjson
import pytest

from streamer import (
    DecodeError,
    JsonlSink,
    LineTooLongError,
    PartError,
    RetryPolicy,
    StreamConfig,
    UrlSource,
    run,
    stream,
    stream_urls,
)
from streamer.entities import register_entity
from streamer.simulator import FaultPlan, Simulator
from tests.support.faults import SimSource, assert_exactly_once, ids_in_file, serve_bytes

pytestmark = [pytest.mark.faults, pytest.mark.timeout(30)]

QUICK = RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.02)


async def test_malformed_lines_fail_with_part_line_and_offset(tmp_path):
    async with Simulator(seed=41) as sim:
        export = sim.add_export("Payment", records=300, parts=2, corrupt={1: {17}})
        with pytest.raises(DecodeError) as info:
            await run(SimSource(sim, [export]), JsonlSink(tmp_path / "o.jsonl"), retry=QUICK)
    error = info.value
    content = export.files[1]
    assert error.line == 18
    assert error.part == f"Payment {export.file_name(1)} of export {export.id}"
    assert b"".join(content.iter_plain())[error.offset:].startswith(b'{"Id": <corrupt')
    assert "invalid JSON" in str(error) and f"line 18, byte offset {error.offset}" in str(error)


async def test_malformed_lines_are_skipped_counted_and_dead_lettered(tmp_path):
    dead = tmp_path / "dead.jsonl"
    async with Simulator(seed=42) as sim:
        export = sim.add_export("Payment", records=500, parts=3, corrupt={0: {0, 99}, 2: {5}})
        out = tmp_path / "o.jsonl"
        stats = await run(SimSource(sim, [export]), JsonlSink(out), bad_lines="skip", dead_letter=dead, retry=QUICK)
    assert stats.skipped_lines == 3
    assert_exactly_once(ids_in_file(out), export.ids())
    entries = [orjson.loads(line) for line in dead.read_bytes().splitlines()]
    assert sorted((e["part"].split()[1], e["line"]) for e in entries) == [
        (export.file_name(0), 1), (export.file_name(0), 100), (export.file_name(2), 6),
    ]
    assert all(e["raw"].startswith('{"Id": <corrupt') and "invalid JSON" in e["error"] for e in entries)
    assert all(isinstance(e["offset"], int) for e in entries)


BAD_UTF8 = b'{"n":1}\n{"n":"\xff\xfe"}\n{"n":3}\n'


async def test_invalid_utf8_is_a_located_bad_line():
    async with serve_bytes({"bad.jsonl": BAD_UTF8}) as base:
        with pytest.raises(DecodeError) as info:
            async for _ in stream_urls([f"{base}/bad.jsonl"], retry=QUICK):
                pass
    assert (info.value.line, info.value.offset) == (2, 8)
    assert "part 0 (bad.jsonl)" in str(info.value)


async def test_invalid_utf8_skipped_goes_to_dead_letter_as_base64(tmp_path):
    dead = tmp_path / "dead.jsonl"
    async with serve_bytes({"bad.jsonl": BAD_UTF8}) as base:
        got = [r.data["n"] async for r in stream_urls([f"{base}/bad.jsonl"], bad_lines="skip", dead_letter=dead)]
    assert got == [1, 3]
    (entry,) = [orjson.loads(line) for line in dead.read_bytes().splitlines()]
    assert entry["line"] == 2 and entry["offset"] == 8 and "raw_base64" in entry


async def test_wrong_json_types_per_line_are_bad_lines(tmp_path):
    body = b'{"n":1}\n[1,2]\n"text"\n{"n":2}\nnull\n'
    dead = tmp_path / "dead.jsonl"
    async with serve_bytes({"types.jsonl": body}) as base:
        got = [r.data["n"] async for r in stream_urls([f"{base}/types.jsonl"], bad_lines="skip", dead_letter=dead)]
    assert got == [1, 2]
    reasons = [orjson.loads(line)["error"] for line in dead.read_bytes().splitlines()]
    assert reasons == ["expected a JSON object, got array", "expected a JSON object, got string",
                       "expected a JSON object, got null"]


async def test_line_over_the_limit_is_an_error_even_under_skip():
    body = b'{"n":1}\n{"pad":"' + b"x" * 5000 + b'"}\n{"n":3}\n'
    async with serve_bytes({"long.jsonl": body}, chunk=512) as base:
        with pytest.raises(LineTooLongError) as info:
            async for _ in stream_urls([f"{base}/long.jsonl"], bad_lines="skip", max_line_bytes=1024):
                pass
    assert (info.value.line, info.value.offset) == (2, 8)
    assert "max_line_bytes=1024" in str(info.value)


class Widget(msgspec.Struct):
    Id: str
    Quantity: int


async def test_wrong_types_for_typed_fields_name_the_record():
    register_entity("urls", "Widget", Widget)
    body = b'{"Id":"a","Quantity":1}\n{"Id":"b","Quantity":"many"}\n'
    async with serve_bytes({"w.jsonl": body}) as base:
        async with stream(UrlSource([f"{base}/w.jsonl"], entity_type="Widget")) as widgets:
            records = [r async for r in widgets]
    assert records[0].typed() == Widget("a", 1)
    with pytest.raises(DecodeError) as info:
        records[1].typed()
    assert (info.value.line, info.value.offset) == (2, 24)
    assert "Widget does not match its schema" in str(info.value) and "Quantity" in str(info.value)


@pytest.mark.parametrize(
    "body",
    [b"", b"\n\n\r\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\n", gzip.compress(b""), gzip.compress(b"\n\n")],
    ids=["zero-bytes", "blank-lines", "bom-only", "bom-newline", "empty-gzip", "gzip-blank-lines"],
)
async def test_empty_parts_deliver_nothing_and_finish_cleanly(body):
    async with serve_bytes({"empty.jsonl": body, "ok.jsonl": b'{"n":1}\n'}) as base:
        source = UrlSource([f"{base}/empty.jsonl", f"{base}/ok.jsonl"], sizes=[len(body), 8])
        async with stream(source) as records:
            got = [r.data async for r in records]
    assert got == [{"n": 1}]
    assert all(p.done for p in records.stats.parts.values()) and len(records.stats.parts) == 2


async def test_html_error_page_with_status_200_is_refused_not_parsed(tmp_path):
    faults = FaultPlan(seed=43)
    async with Simulator(seed=43, faults=faults) as sim:
        export = sim.add_export("Payment", records=100, parts=1)
        faults.html_for.add(f"{export.id}/0")
        with pytest.raises(PartError, match="HTML page") as info:
            await run(SimSource(sim, [export]), JsonlSink(tmp_path / "o.jsonl"), config=StreamConfig(retry=QUICK))
        requests = [p for _, p, _ in sim.requests if p.startswith("/files/")]
    assert export.file_name(0) in str(info.value)
    assert "sig=" not in str(info.value)
    assert len(requests) == 1, "an HTML page is not a transient failure: no retry"
