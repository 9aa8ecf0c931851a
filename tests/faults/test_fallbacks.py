"""The fallbacks a server's odd answers take us down (issue 18): each with what it must deliver.

A server resuming *earlier* than asked, a ``Retry-After`` longer than we
wait, bad lines in several parts, signed URLs whose credentials are not
called ``sig``: each case asserts the records (by id, exactly once) or the
exact figure, so the fallback cannot quietly stop working.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson
import pytest
from aiohttp import web

from streamer import RetryPolicy, StreamConfig, stream_urls
from streamer.decoding.badlines import BadLines
from streamer.errors import DecodeError, RetryableHTTPError, StreamerError
from streamer.http.redact import redact_url
from tests.support.local_server import serve_locally

pytestmark = [pytest.mark.faults, pytest.mark.timeout(60)]

BODY = b"".join(orjson.dumps({"Id": f"r{i:04d}", "pad": "x" * 40}) + b"\n" for i in range(400))
IDS = [f"r{i:04d}" for i in range(400)]
QUICK = StreamConfig(retry=RetryPolicy(max_attempts=5, initial_delay=0.001, max_delay=0.005, jitter=0.0))

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _serve(handler: Handler) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/{name}", handler)
    async with serve_locally(app, shutdown_timeout=0.2) as base_url:
        yield base_url


@pytest.fixture
async def earlier_resume() -> AsyncIterator[tuple[str, list[str | None]]]:
    """Drops the first response mid-body; answers the resume with 206 from 1000 bytes *before* the Range."""
    ranges: list[str | None] = []
    cut = len(BODY) // 2 + 17  # mid-line

    async def handler(request: web.Request) -> web.StreamResponse:
        ranges.append(request.headers.get("Range"))
        headers = {"ETag": '"v1"', "Content-Type": "application/x-ndjson"}
        if len(ranges) == 1:
            response = web.StreamResponse(headers={**headers, "Content-Length": str(len(BODY))})
            await response.prepare(request)
            await response.write(BODY[:cut])
            request.transport.close()  # type: ignore[union-attr]
            return response
        asked = int(request.headers["Range"].removeprefix("bytes=").rstrip("-"))
        start = max(0, asked - 1000)
        return web.Response(
            status=206, body=BODY[start:],
            headers={**headers, "Content-Range": f"bytes {start}-{len(BODY) - 1}/{len(BODY)}"},
        )

    async for base in _serve(handler):
        yield base, ranges


async def test_a_server_resuming_earlier_than_asked_delivers_every_record_once(earlier_resume):
    base, ranges = earlier_resume
    got = [r.data["Id"] async for r in stream_urls([f"{base}/data.jsonl"], config=QUICK)]
    assert got == IDS  # in order, none twice, none missing
    assert len(ranges) == 2 and ranges[0] is None
    assert ranges[1] is not None and int(ranges[1].removeprefix("bytes=").rstrip("-")) > 1000  # asked mid-file


@pytest.mark.timeout(5)  # an uncapped hint would sleep an hour
async def test_retry_after_is_honoured_up_to_the_cap_and_never_beyond():
    waits: list[float] = []
    hints = iter([3600.0, 0.02])

    async def flaky() -> None:
        hint = next(hints, None)
        if hint is not None:
            raise RetryableHTTPError("503 Service Unavailable", retry_after=hint)

    policy = RetryPolicy(max_attempts=5, initial_delay=1.0, jitter=1.0, max_retry_after=0.05)
    started = time.monotonic()
    async for attempt in policy.retrying(on_retry=lambda exc, delay: waits.append(delay)):
        with attempt:
            await flaky()
    # capped at max_retry_after; a shorter hint is taken as is (no backoff, no jitter added)
    assert waits == [0.05, 0.02]
    assert time.monotonic() - started < 1.0


def test_without_a_hint_the_backoff_doubles_and_is_capped():
    policy = RetryPolicy(initial_delay=0.5, max_delay=3.0, jitter=0.0)
    assert [policy.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.backoff(0) == 0.5 and policy.backoff(10_000) == 3.0
    jittered = RetryPolicy(initial_delay=0.5, max_delay=3.0, jitter=0.25)
    assert all(0.5 <= jittered.backoff(1) <= 0.75 for _ in range(50))


def _bad(part: str, line: int) -> DecodeError:
    return DecodeError("not JSON", part=part, line=line, offset=line * 10, snippet=b"{oops")


def test_skipped_lines_are_counted_per_part_and_dead_lettered_with_their_part(tmp_path):
    dead = tmp_path / "dead.jsonl"
    bad_lines = BadLines("skip", dead_letter=dead)
    for part, line in [("part A", 3), ("part B", 1), ("part A", 9), ("part A", 12)]:
        bad_lines.handle(_bad(part, line))
    assert bad_lines.skipped == 4
    assert bad_lines.by_part == {"part A": 3, "part B": 1}
    bad_lines.flush()  # dead letters reach the file with their batch (the engine flushes before each write)
    entries = [orjson.loads(line) for line in dead.read_bytes().splitlines()]
    assert [(e["part"], e["line"], e["offset"], e["raw"]) for e in entries] == [
        ("part A", 3, 30, "{oops"), ("part B", 1, 10, "{oops"), ("part A", 9, 90, "{oops"), ("part A", 12, 120, "{oops"),
    ]
    with pytest.raises(DecodeError, match="part C, line 2, byte offset 20: not JSON"):
        BadLines("fail").handle(_bad("part C", 2))


async def test_bad_lines_in_two_parts_are_counted_per_part(tmp_path):
    parts = {
        "a.jsonl": b'{"Id":"a1"}\nnot json\n{"Id":"a2"}\n',
        "b.jsonl": b'{"Id":"b1"}\n[1]\nnope\n{"Id":"b2"}\n',
    }

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=parts[request.match_info["name"]], content_type="application/x-ndjson")

    dead = tmp_path / "dead.jsonl"
    config = StreamConfig(bad_lines="skip", dead_letter=dead, retry=QUICK.retry)
    async for base in _serve(handler):
        stream = stream_urls([f"{base}/a.jsonl", f"{base}/b.jsonl"], config=config)
        got = sorted([r.data["Id"] async for r in stream])
    assert got == ["a1", "a2", "b1", "b2"]
    assert stream.stats.skipped_lines == 3
    per_part: dict[str, list[int]] = {}
    for entry in (orjson.loads(line) for line in dead.read_bytes().splitlines()):
        per_part.setdefault(entry["part"], []).append(entry["line"])
    assert sorted(per_part.values()) == [[2], [2, 3]]


SIGNED = (
    "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAQUERYKEY123%2F20260101%2Fus-east-1"
    "&X-Amz-Security-Token=FwoGZXIvYXdzSESSIONTOKEN&X-Amz-Expires=60&token=querytoken987&access_key=plainkey456"
)
QUERY_SECRETS = ("AKIAQUERYKEY123", "FwoGZXIvYXdzSESSIONTOKEN", "querytoken987", "plainkey456")


def test_redact_url_drops_any_query_not_only_sig():
    shown = redact_url(f"https://bucket.s3.amazonaws.com/exports/part-0.jsonl{SIGNED}")
    assert shown == "https://bucket.s3.amazonaws.com/exports/part-0.jsonl?…"
    assert redact_url("https://user:pw@host:8443/p?token=x#frag") == "https://host:8443/p?…"
    assert redact_url("https://host/p") == "https://host/p"


@pytest.mark.parametrize("status", [403, 503])
async def test_credentials_in_a_query_without_sig_never_reach_errors_or_logs(status, caplog):
    caplog.set_level(logging.DEBUG)

    async def refuse(request: web.Request) -> web.Response:
        return web.Response(status=status, text="<Error><Code>AccessDenied</Code></Error>")

    async for base in _serve(refuse):
        with pytest.raises(StreamerError) as info:  # PartError (403: final) or the HTTP error that outlived retries
            async for _ in stream_urls([f"{base}/part-0.jsonl{SIGNED}"], config=QUICK):
                pass
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("streamer"))  # not the test server's
    shown = [str(info.value), repr(info.value), repr(info.value.__cause__), ours]
    assert "/part-0.jsonl?…" in str(info.value)  # the path is kept, the query replaced…
    for text in shown:
        for secret in QUERY_SECRETS:
            assert secret not in text, f"{secret} leaked: …{text[max(0, text.find(secret) - 80):][:200]}"
