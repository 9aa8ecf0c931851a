"""The words a user reads when one part fails or retries (streamer/engine/download.py).

Each message names the part, says what happened and where; a retry's log
line says why and when it resumes.  These were the ``engine/`` mutation run's
last survivors: a part label dropped from a message, the reason of a retry
spelled another way, a re-signing retry that waits a backoff it need not.
"""

from __future__ import annotations

import logging
import re

import pytest

from streamer import HTTPError, PartError, RetryPolicy, UrlSource, run
from streamer.engine.download import _short
from streamer.engine.runner import run_export
from streamer.engine.validation import IncompleteBody
from streamer.errors import RetryableHTTPError
from streamer.sinks.callback import CallbackSink
from streamer.sinks.jsonl import JsonlSink
from tests.support.faults import SimSource
from tests.support.liars import Reply, Script, liar_server
from tests.test_download_exact import BODY, CUT, RECORDS, SIZE, _config

LABEL = r"part 0 \(data\.jsonl\)"
URL = r"http://127\.0\.0\.1:\d+/data\.jsonl"
SLOW = RetryPolicy(max_attempts=3, initial_delay=0.4, max_delay=0.4, jitter=0)
"""A backoff a log line can tell from the 0 s of a re-signing retry."""


async def _fail(tmp_path, script: Script, cfg=None, *, url: str | None = None) -> Exception:
    async with liar_server({"data.jsonl": script}) as server:
        source = UrlSource([url or server.url("data.jsonl")])
        with pytest.raises(Exception) as info:
            await run(source, JsonlSink(tmp_path / "out.jsonl"), config=cfg or _config())
    return info.value


def test_short_reasons_name_the_exception_once() -> None:
    assert _short(TimeoutError()) == "TimeoutError"
    assert _short(ConnectionResetError("peer reset")) == "ConnectionResetError: peer reset"
    assert _short(HTTPError("part 0 failed: busy", status=500)) == "part 0 failed: busy — HTTP 500"
    assert _short(PartError("part 0 (a)", "body ended at byte 3")) == "body ended at byte 3"


async def test_an_expired_url_without_a_way_to_re_sign_names_the_part_and_the_answer(tmp_path) -> None:
    error = await _fail(tmp_path, Script(b'{"message":"Request has expired"}', [Reply(status=403)]))
    assert isinstance(error, PartError)
    assert re.fullmatch(
        rf"{LABEL}: signed URL rejected and no way to re-sign it "
        rf"\({LABEL} failed: Request has expired — HTTP 403 — url {URL}\)", str(error)), str(error)


async def test_a_final_http_error_names_the_part(tmp_path) -> None:
    error = await _fail(tmp_path, Script(b'{"message":"No such export"}', [Reply(status=404)]))
    assert type(error) is HTTPError and error.status == 404
    assert re.fullmatch(rf"{LABEL} failed: No such export — HTTP 404 — url {URL}", str(error)), str(error)


async def test_a_redirect_loop_names_the_part(tmp_path) -> None:
    loop = Script(BODY, [Reply(status=302, headers={"Location": "/data.jsonl"})])
    error = await _fail(tmp_path, loop)
    assert re.fullmatch(rf"{LABEL}: too many redirects \(\d+; the last to {URL}\)", str(error)), str(error)


async def test_a_file_url_on_another_host_names_the_part(tmp_path) -> None:
    error = await _fail(tmp_path, Script(BODY), url="file://fileserver/data.jsonl")
    assert str(error) == ("part 0 (data.jsonl): file URL names host 'fileserver': "
                          "only local files (file:///path) are read")


async def test_a_5xx_retry_logs_the_servers_words_and_the_backoff(tmp_path, caplog) -> None:
    script = Script(b'{"message":"try later"}', [Reply(status=503), Reply(body=BODY)])
    async with liar_server({"data.jsonl": script}) as server:
        with caplog.at_level(logging.WARNING, logger="streamer"):
            stats = await run(UrlSource([server.url("data.jsonl")]), JsonlSink(tmp_path / "o.jsonl"),
                              config=_config(retry=SLOW))
    assert stats.records == RECORDS
    (line,) = [r.getMessage() for r in caplog.records if "resuming at byte" in r.getMessage()]
    assert re.fullmatch(rf"{LABEL}: {LABEL} failed: try later — HTTP 503 — url {URL}; resuming at byte 0 in 0\.4s",
                        line), line


async def test_an_empty_answer_that_outlives_the_budget_names_the_part(tmp_path) -> None:
    async with liar_server({"data.jsonl": Script(b"", [Reply(sized=False)])}) as server:
        source = UrlSource([server.url("data.jsonl")], sizes=[SIZE])
        with pytest.raises(IncompleteBody) as info:
            await run(source, JsonlSink(tmp_path / "o.jsonl"), config=_config())
    assert re.fullmatch(rf"{LABEL}: body ended at byte 0 of {SIZE}", str(info.value)), str(info.value)


async def test_a_restart_that_outlives_the_budget_names_the_part(tmp_path) -> None:
    """A new version at each resume, with one retry allowed: the restart's own error is the last word."""
    versions = [Reply(stop=CUT, abort=True, headers={"ETag": f'"v{n}"'}) for n in range(1, 9)]
    async with liar_server({"data.jsonl": Script(BODY, versions)}) as server:
        with pytest.raises(IncompleteBody) as info:
            await run(UrlSource([server.url("data.jsonl")]), JsonlSink(tmp_path / "o.jsonl"),
                      config=_config(batch_size=RECORDS * 2, retry=RetryPolicy(max_attempts=2, initial_delay=0.01, jitter=0)))
    assert re.fullmatch(rf"{LABEL}: file changed before anything was delivered; restarting", str(info.value)), str(info.value)


async def test_an_expired_url_is_re_signed_and_retried_at_once(faults, sim, caplog) -> None:
    """Reactive re-signing: the URL dies before the resume, the 403 re-signs it, and the retry
    does not wait the backoff (0.4 s here): the log says 0.0 s."""
    export = sim.add_export("OrderItem", records=400, parts=1)
    size = export.file_size(0)
    faults.bytes_per_second = size / 1.2
    faults.drop_at[f"{export.id}/0"] = [size // 2]
    source = SimSource(sim, [export], url_ttl=0.3, tell_ttl=False)
    with caplog.at_level(logging.WARNING, logger="streamer"):
        stats = await run_export(source, CallbackSink(lambda batch: None), config=_config(retry=SLOW))
    assert stats.records == 400 and source.refreshes == 1 and faults.injected["drop"] == 1
    waits = [re.search(r"; resuming at byte \d+ in ([\d.]+)s$", r.getMessage()) for r in caplog.records]
    reasons = [r.getMessage() for r, w in zip(caplog.records, waits) if w]
    assert [w.group(1) for w in waits if w] == ["0.4", "0.0"], reasons
    assert "HTTP 403" in reasons[1], reasons
