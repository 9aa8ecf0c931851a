"""Servers that lie: every record exactly once, or one clear line and no part marked done.

Each case scripts a local server (tests/support/liars.py): the first answer
usually breaks mid-body, and the next one misbehaves the way CDNs, proxies
and object stores sometimes do.  docs/server-answers.md lists what is checked.
"""

from __future__ import annotations

import gzip
import time

import orjson
import pytest

from streamer import (
    JsonlSink,
    PartChangedError,
    PartError,
    RetryPolicy,
    SizeMismatchError,
    StreamConfig,
    UrlSource,
    run,
)
from tests.support.liars import Reply, Script, liar_server

pytestmark = [pytest.mark.faults, pytest.mark.timeout(30)]

RECORDS = 600
IDS = [f"{i:05d}" for i in range(RECORDS)]
BODY = b"".join(b'{"Id":"%s","pad":"%s"}\n' % (i.encode(), b"x" * (int(i) % 23)) for i in IDS)
SIZE = len(BODY)
CUT = SIZE // 2
V2 = BODY.replace(b'"pad":"', b'"pad":"v2')
GZ = b"".join(gzip.compress(BODY[i : i + 9000], mtime=0) for i in range(0, SIZE, 9000))  # several members
QUICK = RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.02, jitter=0)

CUT_RESET = Reply(stop=CUT, abort=True)
"""The first answer: Content-Length sent, connection reset half way (a transport error)."""


def config(**overrides) -> StreamConfig:
    options = dict(batch_size=50, retry=QUICK)  # batches delivered before CUT: no restart from 0
    options.update(overrides)
    return StreamConfig(**options)


async def _run(tmp_path, script: Script, *, name="data.jsonl", fmt="jsonl", size=None, cfg=None):
    out, state = tmp_path / "out.jsonl", tmp_path / "state.json"
    async with liar_server({name: script}) as server:
        source = UrlSource([server.url(name)], format=fmt, sizes=[size])
        try:
            stats = await run(source, JsonlSink(out), config=cfg or config(), state=state)
        except Exception as exc:
            exc.state = orjson.loads(state.read_bytes()) if state.exists() else {}  # type: ignore[attr-defined]
            exc.requests = server.requests  # type: ignore[attr-defined]
            raise
    return stats, [orjson.loads(line)["Id"] for line in out.read_bytes().splitlines()], server.requests


async def assert_exactly_once(tmp_path, script, *, expected=IDS, **kwargs):
    stats, ids, requests = await _run(tmp_path, script, **kwargs)
    assert ids == expected, f"{len(ids)} records delivered, {len(set(ids))} distinct, {len(expected)} expected"
    assert all(p.done for p in stats.parts.values())
    return stats, requests


async def assert_refused(tmp_path, script, error, match, **kwargs):
    with pytest.raises(error, match=match) as info:
        await _run(tmp_path, script, **kwargs)
    message = str(info.value)
    assert "\n" not in message and "part 0 (" in message, message  # one line naming the part
    parts = info.value.state.get("parts", {})
    assert not any(p["done"] for p in parts.values()), "a refused part was committed as done"
    return info.value


# ------------------------------------------------------------ resumed responses

WEAK = Reply(stop=CUT, abort=True, headers={"ETag": 'W/"v1"'})
BARE = Reply(stop=CUT, abort=True, headers={"ETag": None, "Last-Modified": None})
REFUSED_RESUMES = {  # first answer, second answer, error, message
    "206-starts-later": (CUT_RESET, Reply(start=CUT + 10), PartError, "after the requested"),
    "206-starts-earlier-weak-etag": (WEAK, Reply(start=CUT - 10, headers={"ETag": 'W/"v1"'}), PartError, "before the requested"),
    "206-starts-earlier-no-validator": (BARE, Reply(start=CUT - 10, headers={"ETag": None, "Last-Modified": None}), PartError, "before the requested"),
    "206-total-bigger": (CUT_RESET, Reply(headers={"Content-Range": "bytes {start}-{last}/99999999"}), PartChangedError, "is now 99999999"),
    "206-new-version-same-etag": (CUT_RESET, Reply(body=BODY + b'{"Id":"new"}\n'), PartChangedError, "is now"),
    "206-no-content-range": (CUT_RESET, Reply(headers={"Content-Range": None}), PartError, "without a valid Content-Range"),
    "206-range-backwards": (CUT_RESET, Reply(headers={"Content-Range": "bytes {start}-5/{total}"}), PartError, "impossible"),
    "206-end-past-total": (CUT_RESET, Reply(headers={"Content-Range": "bytes {start}-{total}/{total}"}), PartError, "impossible"),
    "206-hidden-total": (CUT_RESET, Reply(headers={"Content-Range": "bytes {start}-{last}/*"}), PartError, "hides the total"),
    "206-length-not-span": (CUT_RESET, Reply(extra=b"{}\n"), PartError, "differs from its Content-Range"),
    "206-body-longer-than-span": (CUT_RESET, Reply(sized=False, extra=b'{"Id":"ghost"}\n'), PartError, "more than"),
    "206-without-etag": (CUT_RESET, Reply(headers={"ETag": None}), PartChangedError, "ETag .* is missing"),
    "206-other-etag": (CUT_RESET, Reply(headers={"ETag": '"v2"'}), PartChangedError, 'became "v2"'),
    "206-weak-etag-changed": (WEAK, Reply(headers={"ETag": 'W/"v2"'}), PartChangedError, 'became W/"v2"'),
    "206-other-last-modified": (CUT_RESET, Reply(headers={"Last-Modified": "Thu, 03 Dec 2026 01:00:00 GMT"}), PartChangedError, "Last-Modified"),
    "206-without-last-modified": (CUT_RESET, Reply(headers={"Last-Modified": None}), PartChangedError, "Last-Modified .* is missing"),
    "206-content-encoding-changed": (CUT_RESET, Reply(headers={"Content-Encoding": "gzip"}), PartChangedError, "Content-Encoding changed"),
    "200-to-range-other-length": (CUT_RESET, Reply(status=200, body=V2 + b'{"Id":"new"}\n'), PartChangedError, "Content-Length"),
    "200-to-range-unknown-length-weak-etag": (WEAK, Reply(status=200, sized=False, headers={"ETag": 'W/"v1"'}), PartChangedError, "unknown length"),
    "416-without-content-range": (CUT_RESET, Reply(status=416, headers={"Content-Range": None}), PartError, "without Content-Range"),
    "416-larger-total": (CUT_RESET, Reply(status=416, headers={"Content-Range": "bytes */99999"}), PartError, "although it says"),
    "416-smaller-total": (CUT_RESET, Reply(status=416, headers={"Content-Range": "bytes */10"}), PartChangedError, "shrank"),
    "416-at-offset-but-first-said-more": (CUT_RESET, Reply(status=416, headers={"Content-Range": "bytes */{asked}"}), PartChangedError, "first response said"),
}


@pytest.mark.parametrize("case", REFUSED_RESUMES, ids=list(REFUSED_RESUMES))
async def test_a_resume_that_cannot_prove_the_same_bytes_is_refused(tmp_path, case):
    first, second, error, match = REFUSED_RESUMES[case]
    await assert_refused(tmp_path, Script(BODY, [first, second]), error, match)


ACCEPTED_RESUMES = {
    "honest-206": [CUT_RESET, Reply()],
    "206-starts-earlier-strong-etag": [CUT_RESET, Reply(start=CUT - 100)],
    "206-shorter-span-then-rest": [CUT_RESET, Reply(last=CUT + 999), Reply()],
    "206-weak-etag-same": [Reply(stop=CUT, abort=True, headers={"ETag": 'W/"v1"'}), Reply(headers={"ETag": 'W/"v1"'})],
    "200-to-range-same-length": [CUT_RESET, Reply(status=200)],
    "200-to-range-chunked-strong-etag": [CUT_RESET, Reply(status=200, sized=False)],
    "short-200-clean-end-chunked": [Reply(stop=CUT, sized=False), Reply()],
}


@pytest.mark.parametrize("case", ACCEPTED_RESUMES, ids=list(ACCEPTED_RESUMES))
async def test_a_resume_that_proves_the_same_bytes_delivers_each_record_once(tmp_path, case):
    size = SIZE if case == "short-200-clean-end-chunked" else None  # a clean short end needs a size to be seen
    stats, requests = await assert_exactly_once(tmp_path, Script(BODY, ACCEPTED_RESUMES[case]), size=size)
    assert stats.retries >= 1 and requests[1][1]["Range"] == f"bytes={CUT}-"


async def test_no_announced_size_makes_the_first_length_the_expected_size(tmp_path):
    """A clean (chunked) end before the first response's Content-Range total is a resume, not the end."""
    script = Script(BODY, [CUT_RESET, Reply(stop=CUT + 700, sized=False), Reply()])
    stats, requests = await assert_exactly_once(tmp_path, script)
    assert [h.get("Range") for _, h in requests] == [None, f"bytes={CUT}-", f"bytes={CUT + 700}-"]


async def test_a_server_that_ends_short_of_the_announced_size_for_good_fails_with_the_sizes(tmp_path):
    script = Script(BODY[:CUT], [Reply(sized=False)])  # then 416 bytes */CUT: the file really ends there
    await assert_refused(tmp_path, script, SizeMismatchError, f"has {CUT} bytes but the export announced {SIZE}", size=SIZE)


async def test_a_content_length_other_than_the_announced_size_fails_before_reading(tmp_path):
    error = await assert_refused(tmp_path, Script(BODY), SizeMismatchError, f"{SIZE} bytes .* announced {SIZE + 5}", size=SIZE + 5)
    assert len(error.requests) == 1


async def test_a_file_that_changed_before_anything_was_delivered_restarts_from_zero(tmp_path):
    script = Script(BODY, [CUT_RESET, Reply(headers={"ETag": '"v2"'}), Reply(body=V2, headers={"ETag": '"v2"'})])
    stats, requests = await assert_exactly_once(tmp_path, script, cfg=config(batch_size=RECORDS * 2))
    assert "Range" not in requests[2][1], "the restart reads the new version from byte 0"
    out = (tmp_path / "out.jsonl").read_bytes()
    assert b'"pad":"v2' in out and out.count(b"\n") == RECORDS  # only the new version, never a splice


# ------------------------------------------------------------------ gzip ends

GZ_CUTS = {"in-header": 5, "in-body": len(GZ) // 2, "in-trailer": len(GZ) - 4}


@pytest.mark.parametrize("where", GZ_CUTS, ids=list(GZ_CUTS))
@pytest.mark.parametrize("layer", ["file", "content-encoding"])
async def test_gzip_cut_cleanly_is_resumed_to_the_end(tmp_path, where, layer):
    headers = {"Content-Encoding": "gzip"} if layer == "content-encoding" else {}
    name = "data.jsonl.gz" if layer == "file" else "data.jsonl"
    script = Script(GZ, [Reply(stop=GZ_CUTS[where], sized=False, headers=headers), Reply(headers=headers)])
    stats, requests = await assert_exactly_once(tmp_path, script, name=name)
    assert requests[1][1]["Range"] == f"bytes={GZ_CUTS[where]}-"


GZ_BROKEN = {
    "truncated-in-trailer": (GZ[:-4], PartError, "is truncated: it ends inside a member"),
    "truncated-in-header": (GZ + GZ[:6], PartError, "is truncated"),
    "trailing-garbage": (GZ + b"<html>oops</html>", PartError, r"not valid gzip after \d+ complete members"),
    "trailing-byte": (GZ + b"x", PartError, "is truncated"),
}


@pytest.mark.parametrize("case", GZ_BROKEN, ids=list(GZ_BROKEN))
@pytest.mark.parametrize("layer", ["file", "content-encoding"])
async def test_gzip_that_cannot_end_cleanly_is_never_accepted(tmp_path, case, layer):
    body, error, match = GZ_BROKEN[case]
    headers = {"Content-Encoding": "gzip"} if layer == "content-encoding" else {}
    name = "data.jsonl.gz" if layer == "file" else "data.jsonl"
    await assert_refused(tmp_path, Script(body, [Reply(sized=False, headers=headers)]), error, match, name=name)


# ------------------------------------------------------------------ HTML bodies

HTML = b"\xef\xbb\xbf\r\n  <!DOCTYPE html><html><head><title>Sign in</title></head><body>Log in</body></html>\n"
HTML_TYPES = {
    "no-type": None,
    "octet-stream": "application/octet-stream",
    "text-plain": "text/plain",
    "uppercase-html": "TEXT/HTML; charset=UTF-8",
}


@pytest.mark.parametrize("content_type", HTML_TYPES, ids=list(HTML_TYPES))
@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
async def test_html_is_never_data(tmp_path, fmt, content_type):
    body = HTML if content_type != "octet-stream" else b"\n\n<html lang=en><body>Oops</body></html>"
    script = Script(body, [Reply(sized=False)], content_type=HTML_TYPES[content_type])
    error = await assert_refused(tmp_path, script, PartError, "HTML page", fmt=fmt, name=f"data.{fmt}")
    assert len(error.requests) == 1, "an HTML page is not retried"


async def test_uppercase_media_type_of_real_data_is_accepted(tmp_path):
    await assert_exactly_once(tmp_path, Script(BODY, content_type="Application/X-NDJSON"))


# --------------------------------------------------------------------- trickles

TRICKLE = dict(min_rate_bytes=4000, min_rate_window=0.4)


async def test_a_trickle_is_a_stall_and_is_resumed(tmp_path):
    script = Script(BODY, [Reply(trickle_from=CUT, trickle=0.05), Reply()])
    began = time.monotonic()
    stats, requests = await assert_exactly_once(tmp_path, script, cfg=config(**TRICKLE))
    assert time.monotonic() - began < 5
    assert stats.retries == 1 and requests[1][1]["Range"].startswith("bytes=")


async def test_a_server_that_only_trickles_fails_clearly_instead_of_running_forever(tmp_path):
    script = Script(BODY, [Reply(trickle_from=0, trickle=0.02)])
    began = time.monotonic()
    error = await assert_refused(tmp_path, script, PartError, "slower than 4000 B/s", cfg=config(**TRICKLE))
    assert time.monotonic() - began < 5
    assert len(error.requests) == QUICK.max_attempts, "a trickle's few bytes are no progress"


async def test_the_rate_floor_can_be_turned_off(tmp_path):
    small = b"".join(BODY.splitlines(keepends=True)[:15])
    script = Script(small, [Reply(trickle_from=len(small) - 60, trickle=0.01)])  # 100 B/s for 0.6 s
    stats, ids, _ = await _run(tmp_path, script, cfg=config(min_rate_bytes=0, min_rate_window=0.2))
    assert stats.retries == 0 and ids == IDS[:15]
