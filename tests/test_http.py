"""HTTP helpers: Retry-After parsing, redaction, retry budget, session timeouts."""

import asyncio
import email.utils

import pytest

from streamer.errors import RetryableHTTPError
from streamer.http.redact import redact_text, redact_url, register_secret
from streamer.http.responses import error_message_of, retry_after_of
from streamer.http.retry import RetryPolicy
from streamer.http.session import HTTPConfig, open_session


def test_retry_after_seconds_and_dates() -> None:
    now = 1_700_000_000.0
    assert retry_after_of({"Retry-After": "12"}, now=now) == 12.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert retry_after_of({"Retry-After": date}, now=now) == pytest.approx(30, abs=1)
    assert retry_after_of({"X-RateLimit-Retry-After": "2023-11-14T22:14:20Z"}, now=now) == pytest.approx(
        1_700_000_060 - now
    )
    assert retry_after_of({}, now=now) is None
    assert retry_after_of({"Retry-After": "soon"}, now=now) is None


def test_redact_url_drops_query_and_userinfo() -> None:
    url = "https://user:pw@bucket.s3.amazonaws.com/exports/a.csv?X-Amz-Signature=abc&X-Amz-Expires=30"
    assert redact_url(url) == "https://bucket.s3.amazonaws.com/exports/a.csv?…"
    assert redact_url("http://127.0.0.1:8080/x") == "http://127.0.0.1:8080/x"


def test_registered_secrets_are_masked() -> None:
    register_secret("C66EF7B239D24632943D115EDE9CB810")
    assert redact_text("token C66EF7B239D24632943D115EDE9CB810 bad") == "token *** bad"


def test_error_messages_from_json_and_s3_xml() -> None:
    assert error_message_of(b'{"Message":"Invalid token","Details":{"a":1}}') == ("Invalid token", {"a": 1})
    xml = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
    assert error_message_of(xml)[0] == "Request has expired"


def test_backoff_doubles_and_caps() -> None:
    policy = RetryPolicy(initial_delay=1, max_delay=5, jitter=0)
    assert [policy.backoff(n) for n in range(1, 6)] == [1, 2, 4, 5, 5]


async def test_budget_resets_when_progress_is_made() -> None:
    progress = 0
    calls = 0
    policy = RetryPolicy(max_attempts=3, initial_delay=0, max_delay=0, jitter=0)

    async def flaky() -> None:
        nonlocal calls, progress
        calls += 1
        if calls < 10:
            if calls % 2 == 0:
                progress += 1  # every other attempt gets somewhere before failing
            raise RetryableHTTPError("boom", status=503)

    async for attempt in policy.retrying(progress=lambda: progress):
        with attempt:
            await flaky()
    assert calls == 10  # far more than max_attempts in total, never 3 in a row without progress


async def test_budget_exhausted_without_progress() -> None:
    policy = RetryPolicy(max_attempts=3, initial_delay=0, max_delay=0, jitter=0)
    calls = 0
    with pytest.raises(RetryableHTTPError):
        async for attempt in policy.retrying(progress=lambda: 0):
            with attempt:
                calls += 1
                raise RetryableHTTPError("down", status=503)
    assert calls == 3


async def test_retry_after_hint_is_honoured() -> None:
    policy = RetryPolicy(max_attempts=2, initial_delay=5, jitter=0)
    calls = 0
    loop = asyncio.get_running_loop()
    started = loop.time()
    async for attempt in policy.retrying():
        with attempt:
            calls += 1
            if calls == 1:
                raise RetryableHTTPError("slow down", status=429, retry_after=0.05)
    assert 0.04 < loop.time() - started < 2


async def test_session_has_no_total_timeout() -> None:
    async with open_session(HTTPConfig(connect_timeout=3, read_timeout=7)) as session:
        assert session.timeout.total is None
        assert session.timeout.sock_connect == 3
        assert session.timeout.sock_read == 7
        assert session.auto_decompress is False


async def test_waits_double_from_the_first_retry(monkeypatch) -> None:
    import tenacity

    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    policy = RetryPolicy(max_attempts=5, initial_delay=1, max_delay=100, jitter=0)
    retrying = policy.retrying()
    retrying.sleep = fake_sleep  # type: ignore[method-assign]
    with pytest.raises(RetryableHTTPError):
        async for attempt in retrying:
            with attempt:
                raise RetryableHTTPError("down", status=503)
    assert slept == [1, 2, 4, 8]
    assert isinstance(retrying, tenacity.AsyncRetrying)


def test_redact_url_keeps_the_empty_authority_of_a_file_url() -> None:
    """``sqlite:///x@y/out.db`` named in an error as written (urlunsplit alone drops ``//`` without a host)."""
    assert redact_url("sqlite:///x@y/out.db") == "sqlite:///x@y/out.db"
    assert redact_url("file:///data/part.csv?token=abc") == "file:///data/part.csv?…"
    assert redact_url("dir:relative/out") == "dir:relative/out"


def test_error_messages_are_one_line_and_bounded() -> None:
    assert error_message_of(b"Service\r\nUnavailable\n\n  try later\n") == ("Service Unavailable try later", None)
    assert error_message_of(b'{"message":"bad\\ninput\\tfield"}') == ("bad input field", None)
    html = b"<html><head><title>\n  502 Bad\n Gateway </title></head><body>...</body></html>"
    assert error_message_of(html) == ("502 Bad Gateway", None)
    long, _ = error_message_of(b"word " * 10_000)
    assert long is not None and len(long) == 300 and "\n" not in long
    assert error_message_of(b"  \n ") == (None, None)


async def test_an_error_answer_is_read_only_up_to_its_cap_and_its_message_is_one_line() -> None:
    """A 500 whose body is 8 MB of text: the error is raised after reading 64 KiB, not the page."""
    from aiohttp import web

    from streamer.errors import HTTPError
    from streamer.http.responses import MAX_ERROR_BODY, raise_for_response
    from tests.support.local_server import serve_locally

    sent = []

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=418)
        await response.prepare(request)
        try:
            for _ in range(128):
                await response.write(b"line of an error page\n" * 3000)  # 66 kB per write
                sent.append(1)
        except (ConnectionError, asyncio.CancelledError):
            pass
        return response

    app = web.Application()
    app.router.add_get("/x", handler)
    async with serve_locally(app, shutdown_timeout=0.5) as base_url, open_session(HTTPConfig()) as session:
        async with session.get(f"{base_url}/x") as response:
            with pytest.raises(HTTPError) as info:
                await raise_for_response(response, what="part 0")
            read = response.content.total_bytes
    message = str(info.value)
    assert message.startswith("part 0 failed: line of an error page line of an error page") and "\n" not in message
    assert info.value.status == 418
    assert read < 4 * MAX_ERROR_BODY, f"read {read} bytes of an error page"
