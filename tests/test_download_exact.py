"""What one part's download says and does, exactly (streamer/engine/download.py).

The mutation run of ``engine/`` left these unguarded: tests elsewhere checked
that a retry happened or a part failed, not the words a user reads, how many
requests were made, or which byte stages a part gets.  Each test here names
the behaviour; docs/testing.md lists the mutants they were written for.
"""

from __future__ import annotations

import gzip
import logging
import re

import orjson
import pytest

from streamer import PartChangedError, PartError, RetryPolicy, SizeMismatchError, StreamConfig, UrlSource, run
from streamer.engine.runner import run_export
from streamer.engine.validation import IncompleteBody, media_type_error
from streamer.errors import DecodeError
from streamer.sinks.callback import CallbackSink
from streamer.sinks.jsonl import JsonlSink
from tests.support.faults import SimSource
from tests.support.liars import Reply, Script, liar_server

RECORDS = 300
BODY = b"".join(b'{"Id":"%05d"}\n' % i for i in range(RECORDS))
SIZE = len(BODY)
CUT = SIZE // 2
IDS = [f"{i:05d}" for i in range(RECORDS)]
QUICK = RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.02, jitter=0)


def _config(**overrides) -> StreamConfig:
    return StreamConfig(**{"batch_size": 50, "retry": QUICK, **overrides})


async def _run(tmp_path, script: Script, *, name="data.jsonl", size=None, cfg=None, compression="auto", fmt="auto"):
    out = tmp_path / "out.jsonl"
    async with liar_server({name: script}) as server:
        source = UrlSource([server.url(name)], sizes=[size], compression=compression, format=fmt)
        try:
            stats = await run(source, JsonlSink(out, with_metadata=True), config=cfg or _config())
        except Exception as exc:
            exc.requests = server.requests  # type: ignore[attr-defined]
            raise
    lines = [orjson.loads(line) for line in out.read_bytes().splitlines()] if out.exists() else []
    return stats, lines, server.requests


def _retry_reasons(caplog: pytest.LogCaptureFixture) -> list[tuple[str, int]]:
    """(reason, offset) of each retry log line: the text between the part's label and "; resuming at byte"."""
    found = []
    for record in caplog.records:
        message = record.getMessage()
        if match := re.fullmatch(r"(part 0 \(.*?\)): (.*); resuming at byte (\d+) in [\d.]+s", message):
            found.append((match.group(2), int(match.group(3))))
    return found


# ------------------------------------------------------------- byte stages


async def test_compression_gzip_gunzips_a_body_whatever_its_name(tmp_path) -> None:
    stats, lines, _ = await _run(tmp_path, Script(gzip.compress(BODY, mtime=0)), compression="gzip")
    assert [line["Id"] for line in lines] == IDS


async def test_compression_auto_sniffs_gzip_at_a_name_without_gz(tmp_path) -> None:
    stats, lines, _ = await _run(tmp_path, Script(gzip.compress(BODY, mtime=0)))
    assert [line["Id"] for line in lines] == IDS


async def test_compression_none_reads_a_gz_name_as_it_is(tmp_path) -> None:
    stats, lines, _ = await _run(tmp_path, Script(BODY), name="data.jsonl.gz", compression="none")
    assert [line["Id"] for line in lines] == IDS


async def test_compression_none_never_gunzips_a_gzip_body(tmp_path) -> None:
    with pytest.raises(DecodeError, match=r"line 1, byte offset 0: invalid JSON"):
        await _run(tmp_path, Script(gzip.compress(BODY, mtime=0)), compression="none")


async def test_a_truncated_gz_file_is_named_as_a_gzip_file(tmp_path) -> None:
    packed = gzip.compress(BODY, mtime=0)
    with pytest.raises(PartError) as info:  # the file really ends there: every answer is the same bytes
        await _run(tmp_path, Script(packed[:-4], [Reply(sized=False)]), name="data.jsonl.gz")
    assert re.fullmatch(r"part 0 \(.*\): gzip file is truncated: it ends inside a member at byte \d+", str(info.value))


async def test_a_gz_file_that_ends_cleanly_mid_member_is_resumed_and_the_log_says_why(tmp_path, caplog) -> None:
    packed = gzip.compress(BODY, mtime=0)
    script = Script(packed, [Reply(stop=len(packed) // 2, sized=False), Reply()])
    with caplog.at_level(logging.WARNING, logger="streamer"):
        stats, lines, _ = await _run(tmp_path, script, name="data.jsonl.gz")
    assert [line["Id"] for line in lines] == IDS
    ((reason, offset),) = _retry_reasons(caplog)
    assert reason.startswith("body ended gzip file ") and offset == len(packed) // 2, reason


async def test_a_part_that_can_be_re_signed_is_not_re_signed_without_cause(sim) -> None:
    export = sim.add_export("OrderItem", records=200, parts=2)
    source = SimSource(sim, [export])
    stats = await run_export(source, CallbackSink(lambda batch: None))
    assert stats.records == 200 and source.refreshes == 0 and stats.url_refreshes == 0


async def test_a_truncated_gzip_content_encoding_is_named_as_such(tmp_path) -> None:
    packed = gzip.compress(BODY, mtime=0)
    script = Script(packed[:-4], [Reply(sized=False, headers={"Content-Encoding": "gzip"})])
    with pytest.raises(PartError) as info:
        await _run(tmp_path, script)
    assert re.fullmatch(r"part 0 \(.*\): gzip Content-Encoding is truncated: it ends inside a member at byte \d+",
                        str(info.value)), str(info.value)


async def test_a_body_held_by_the_html_sniff_is_decoded_at_its_end(tmp_path) -> None:
    """The HTML guard holds a start that could still become ``<html``; at the end of a tiny body
    the flush releases it to the decoder, which must see it (here: not JSON, so a located error)."""
    with pytest.raises(DecodeError, match=r"line 1, byte offset 0: invalid JSON"):
        await _run(tmp_path, Script(b"<ht"))


async def test_a_last_line_without_newline_is_delivered(tmp_path) -> None:
    stats, lines, _ = await _run(tmp_path, Script(BODY + b'{"Id":"last"}'))
    assert [line["Id"] for line in lines] == [*IDS, "last"]
    assert stats.records == RECORDS + 1


# ------------------------------------------------------------------ requests


async def test_the_first_request_accepts_gzip_and_a_resume_asks_for_identity(tmp_path) -> None:
    script = Script(BODY, [Reply(stop=CUT, abort=True), Reply()])
    stats, lines, requests = await _run(tmp_path, script)
    assert [h["Accept-Encoding"] for _, h in requests] == ["gzip", "identity"]
    assert requests[1][1]["Range"] == f"bytes={CUT}-" and requests[1][1]["If-Range"] == '"v1"'
    assert [line["Id"] for line in lines] == IDS


def test_media_types_with_several_parameters_are_data() -> None:
    assert media_type_error("application/x-ndjson; charset=utf-8; profile=export") is None
    assert media_type_error("text/html; charset=utf-8; q=1") is not None


async def test_an_unchecked_size_is_not_compared(tmp_path) -> None:
    stats, lines, _ = await _run(tmp_path, Script(BODY), size=SIZE + 5, cfg=_config(check_size=False))
    assert len(lines) == RECORDS and stats.bytes == SIZE


async def test_part_stats_carry_the_label_and_the_announced_size(tmp_path) -> None:
    stats, _, _ = await _run(tmp_path, Script(BODY), size=SIZE)
    (part,) = stats.parts.values()
    assert re.fullmatch(r"part 0 \(.*data\.jsonl\)", part.name), part.name
    assert part.size == SIZE and part.url_refreshes == 0 and part.done


async def test_without_an_announced_size_the_part_size_is_the_first_answers(tmp_path) -> None:
    script = Script(BODY, [Reply(stop=CUT, abort=True), Reply(headers={"Content-Range": "bytes {start}-{last}/{total}"})])
    stats, _, _ = await _run(tmp_path, script)
    (part,) = stats.parts.values()
    assert part.size == SIZE


# ------------------------------------------------------------- short bodies


async def test_a_clean_short_end_is_retried_with_its_place_in_the_log(tmp_path, caplog) -> None:
    script = Script(BODY, [Reply(stop=CUT, sized=False), Reply()])
    with caplog.at_level(logging.WARNING, logger="streamer"):
        stats, lines, requests = await _run(tmp_path, script, size=SIZE)
    assert [line["Id"] for line in lines] == IDS
    assert _retry_reasons(caplog) == [(f"body ended at byte {CUT} of {SIZE}", CUT)]


async def test_a_resume_that_brings_no_new_byte_fails_at_once_with_the_sizes(tmp_path) -> None:
    """The same short file again (a 200 re-sending it whole): no progress, so no retry budget is spent on it."""
    script = Script(BODY[:CUT], [Reply(sized=False), Reply(status=200, sized=False)])
    with pytest.raises(SizeMismatchError, match=f"the file has {CUT} bytes but the export announced {SIZE}") as info:
        await _run(tmp_path, script, size=SIZE)
    assert len(info.value.requests) == 2


async def test_an_empty_first_answer_is_retried_until_the_budget_is_spent(tmp_path) -> None:
    with pytest.raises(IncompleteBody) as info:
        await _run(tmp_path, Script(b"", [Reply(sized=False)]), size=SIZE)
    assert len(info.value.requests) == QUICK.max_attempts
    assert str(info.value).endswith(f": body ended at byte 0 of {SIZE}")


async def test_a_body_longer_than_its_span_is_refused_even_in_small_chunks(tmp_path) -> None:
    ghost = b'{"Id":"ghost"}\n'
    first, second = Reply(stop=CUT, abort=True), Reply(sized=False, extra=ghost, trickle_from=SIZE - 3, trickle=0.002)
    with pytest.raises(PartError, match=rf"has more than the {SIZE - CUT} bytes it announced"):
        await _run(tmp_path, Script(BODY, [first, second]))


# ----------------------------------------------------------- giving up


async def test_a_transport_error_without_progress_gives_up_naming_the_place_and_the_attempts(tmp_path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="streamer"), pytest.raises(PartError) as info:
        await _run(tmp_path, Script(BODY, [Reply(stop=0, abort=True)]))
    message = str(info.value)
    assert re.fullmatch(
        rf"part 0 \(.*\): gave up at byte 0 after {QUICK.max_attempts} attempts without progress: "
        r"Client\w+Error: .+", message), message
    reasons = _retry_reasons(caplog)
    assert len(reasons) == QUICK.max_attempts - 1
    assert all(re.fullmatch(r"Client\w+Error: .+", reason) and offset == 0 for reason, offset in reasons), reasons


async def test_progress_renews_the_retry_budget(tmp_path) -> None:
    """Four breaks, each after new bytes, with two attempts allowed: progress, not attempts, decides."""
    cuts = [SIZE * k // 5 for k in range(1, 5)]
    script = Script(BODY, [*(Reply(stop=c, abort=True) for c in cuts), Reply()])
    stats, lines, requests = await _run(tmp_path, script, cfg=_config(retry=RetryPolicy(max_attempts=2, initial_delay=0.01, max_delay=0.02, jitter=0)))
    assert [line["Id"] for line in lines] == IDS
    assert [h.get("Range") for _, h in requests] == [None, *(f"bytes={c}-" for c in cuts)]


async def test_a_file_that_keeps_changing_before_delivery_is_restarted_twice_then_refused(tmp_path, caplog) -> None:
    """Each answer is a new version (another ETag) that breaks before a batch: 1 try + 2 restarts."""
    versions = [Reply(stop=CUT, abort=True, headers={"ETag": f'"v{n}"'}) for n in range(1, 9)]
    with caplog.at_level(logging.WARNING, logger="streamer"), pytest.raises(PartChangedError) as info:
        await _run(tmp_path, Script(BODY, versions), cfg=_config(batch_size=RECORDS * 2, retry=RetryPolicy(max_attempts=10, initial_delay=0.01, max_delay=0.02, jitter=0)))
    # first answer v1 (broken), then per restart: a resume that sees the new ETag, and a read from byte 0
    assert [h.get("Range") for _, h in info.value.requests] == [None, f"bytes={CUT}-", None, f"bytes={CUT}-", None, f"bytes={CUT}-"]
    restarts = [r.getMessage() for r in caplog.records if "nothing of it was delivered yet" in r.getMessage()]
    assert len(restarts) == 2
    assert all(re.fullmatch(r"part 0 \(.*\): .*became .*; nothing of it was delivered yet: restarting from byte 0", m) for m in restarts), restarts
    assert ("file changed before anything was delivered; restarting", 0) in _retry_reasons(caplog)


# ------------------------------------------------------ resume from a checkpoint


NO_ETAG = {"ETag": None}


async def _resumed(tmp_path, second: Reply, first_headers=None):
    """A first run that dies after two batches, then a second run whose answer is ``second``.

    One server for both: a part is known again by its URL.  Without an ETag in the first
    answers, the checkpoint's Last-Modified and length are what a resume is checked by."""
    state, out = tmp_path / "state.json", tmp_path / "out.jsonl"
    async with liar_server({"data.jsonl": Script(BODY, [Reply(stop=CUT, abort=True, headers=first_headers or {}), second])}) as server:
        source = UrlSource([server.url("data.jsonl")])
        with pytest.raises(PartError):
            await run(source, JsonlSink(out, with_metadata=True), config=_config(retry=RetryPolicy(max_attempts=1)), state=state)
        (checkpoint,) = orjson.loads(state.read_bytes())["parts"].values()
        assert 0 < checkpoint["offset"] <= CUT and checkpoint["line"] > 0
        try:
            await run(UrlSource([server.url("data.jsonl")]), JsonlSink(out, with_metadata=True), config=_config(), state=state)
        finally:
            lines = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    return checkpoint, lines, server.requests


async def test_a_resumed_run_numbers_lines_and_offsets_on_from_the_checkpoint(tmp_path) -> None:
    checkpoint, lines, requests = await _resumed(tmp_path, Reply(headers=NO_ETAG), NO_ETAG)
    assert requests[-1][1]["Range"] == f"bytes={checkpoint['offset']}-"
    assert requests[-1][1]["Accept-Encoding"] == "identity"  # a byte range of the stored bytes, never re-encoded
    assert [line["Id"] for line in lines] == IDS  # the first run's lines, then the rest: each once
    resumed = lines[checkpoint["line"]]
    assert resumed["_streamer"]["line"] == checkpoint["line"] + 1
    assert resumed["_streamer"]["offset"] == checkpoint["offset"]


async def test_a_resumed_run_refuses_a_file_with_another_last_modified(tmp_path) -> None:
    with pytest.raises(PartChangedError, match="Last-Modified"):
        await _resumed(tmp_path, Reply(headers={**NO_ETAG, "Last-Modified": "Thu, 03 Dec 2026 01:00:00 GMT"}), NO_ETAG)


async def test_a_resumed_run_refuses_a_file_of_another_length(tmp_path) -> None:
    with pytest.raises(PartChangedError, match=f"is now {SIZE + 13}"):
        await _resumed(tmp_path, Reply(body=BODY + b'{"Id":"new"}\n', headers=NO_ETAG), NO_ETAG)


async def test_a_url_near_its_expiry_is_re_signed_before_each_resume_and_counted_once_each(faults, sim, caplog) -> None:
    """Proactive re-signing: the URL lives 0.6 s (re-signed after 80 % of it); the part takes ~3 s
    and drops at a third and two thirds, so each of the two resumes comes ~1 s after its URL was
    signed. Each resume re-signs first (no 403, so no extra retry), and each re-sign is counted
    and logged once."""
    export = sim.add_export("OrderItem", records=600, parts=1)
    size = export.file_size(0)
    faults.bytes_per_second = size / 3
    faults.drop_at[f"{export.id}/0"] = [size // 3, 2 * size // 3]
    source = SimSource(sim, [export], url_ttl=0.6, tell_ttl=True)
    with caplog.at_level(logging.INFO, logger="streamer"):
        stats = await run_export(source, CallbackSink(lambda batch: None), config=_config(batch_size=100))
    assert stats.records == 600 and faults.injected["drop"] == 2
    (part,) = stats.parts.values()
    assert stats.retries == 2, "a resume met an expired URL: it was not re-signed before the request"
    assert source.refreshes == 2 and stats.url_refreshes == 2 and part.url_refreshes == 2
    logged = [r.getMessage() for r in caplog.records if "refreshed its signed URL" in r.getMessage()]
    assert logged == [f"{part.name}: refreshed its signed URL"] * 2


# ------------------------------------------------------- what a resume refuses


async def test_a_resume_answered_with_an_html_media_type_is_refused(tmp_path) -> None:
    """The HTML guard only looks at a body's start; a 206 labelled text/html is refused by its header."""
    script = Script(BODY, [Reply(stop=CUT, abort=True), Reply(headers={"Content-Type": "text/html; charset=utf-8"})])
    with pytest.raises(PartError) as info:
        await _run(tmp_path, script)
    assert re.fullmatch(r"part 0 \(.*\): server answered HTTP 206 with an HTML page \(text/html; charset=utf-8\) "
                        r"instead of jsonl data — http://127\.0\.0\.1:\d+/data\.jsonl", str(info.value)), str(info.value)


async def test_a_file_that_changes_after_a_batch_was_delivered_is_refused_not_restarted(tmp_path) -> None:
    """Restarting from byte 0 would deliver the first batches twice."""
    script = Script(BODY, [Reply(stop=CUT, abort=True), Reply(headers={"ETag": '"v2"'})])
    with pytest.raises(PartChangedError) as info:
        await _run(tmp_path, script, cfg=_config(batch_size=10))
    assert [h.get("Range") for _, h in info.value.requests] == [None, f"bytes={CUT}-"]


def test_a_url_is_re_signed_once_past_its_refresh_point_and_once_per_rejection(monkeypatch) -> None:
    """The staleness rule on a controlled clock: a 100 s URL is re-signed once more than
    ``url_refresh_after`` (80 %) of it passed, not at 80 s exactly; a rejection re-signs once."""
    import types

    from streamer.engine import download
    from streamer.engine.stats import PartStats, RunStats

    clock = [0.0]
    monkeypatch.setattr(download, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    signed = []

    async def refresh() -> str:
        signed.append(clock[0])
        return f"https://x/{len(signed)}"

    part = types.SimpleNamespace(refresh=refresh, url="https://x/0", url_ttl=100.0, url_issued_at=0.0)
    fake = types.SimpleNamespace(part=part, _config=StreamConfig(), _must_refresh=False, label="p",
                                 stats=PartStats(name="p"), _run_stats=RunStats())

    def current_url() -> str:
        coroutine = download.PartDownload._current_url(fake)  # type: ignore[arg-type]
        with pytest.raises(StopIteration) as done:
            coroutine.send(None)  # refresh() never suspends
        return done.value.value

    for now, url in ((79.9, "https://x/0"), (80.0, "https://x/0"), (80.1, "https://x/1"), (150.0, "https://x/1")):
        clock[0] = now
        assert current_url() == url, now
    fake._must_refresh = True  # a 403 said the URL is dead
    assert current_url() == "https://x/2" and current_url() == "https://x/2"
    assert signed == [80.1, 150.0] and fake.stats.url_refreshes == fake._run_stats.url_refreshes == 2
