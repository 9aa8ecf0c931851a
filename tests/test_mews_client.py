"""The Mews transport: body auth, retries, Retry-After, fail-fast errors, no leaked tokens.

Control-plane unit tests on aioresponses (``mock_http`` from conftest); the
lifecycle against the real simulator is in test_mews_lifecycle.py.
"""

from __future__ import annotations

import email.utils
import time

import aiohttp
import orjson
import pytest
from yarl import URL

from streamer.errors import HTTPError, RetryableHTTPError
from streamer.http.redact import redact_text
from streamer.http.retry import RetryPolicy
from streamer.providers.mews.client import MewsClient, MewsCredentials
from streamer.providers.mews.lifecycle import ExportLifecycle
from streamer.providers.mews.limiter import SlidingWindowLimiter
from streamer.providers.mews.requests import ExportRequest

PLATFORM = "https://api.mews-demo.test"
ADD = f"{PLATFORM}/api/connector/v1/exports/add"
GET_ALL = f"{PLATFORM}/api/connector/v1/exports/getAll"
CLIENT_TOKEN = "CLIENT-TOKEN-0123456789-secret"
ACCESS_TOKEN = "ACCESS-TOKEN-9876543210-secret"
FAST = RetryPolicy(max_attempts=4, initial_delay=0.01, max_delay=0.05, jitter=0.0)


def credentials() -> MewsCredentials:
    return MewsCredentials(PLATFORM, CLIENT_TOKEN, ACCESS_TOKEN, "tests 1.0")


def export_doc(export_id: str, status: str = "Pending") -> dict:
    return {"Id": export_id, "Status": status, "EntityType": "OrderItem", "Files": [], "ExpiresUtc": None}


def sent_bodies(mock_http, url: str) -> list[dict]:
    return [orjson.loads(call.kwargs["data"]) for call in mock_http.requests[("POST", URL(url))]]


async def call_add(retry: RetryPolicy = FAST, retries: list | None = None):
    async with aiohttp.ClientSession() as session:
        client = MewsClient(
            credentials(),
            session,
            retry=retry,
            limiter=SlidingWindowLimiter(),
            on_retry=(lambda exc, delay: retries.append((exc, delay))) if retries is not None else None,
        )
        reply = await client.call("exports", "add", {"EntityType": "OrderItem"})
        return reply, client


async def test_posts_json_with_body_auth_to_the_case_sensitive_path(mock_http) -> None:
    mock_http.post(ADD, payload={"Export": export_doc("e1")}, headers={"Request-Id": "req-1"})
    reply, client = await call_add()
    assert reply.body["Export"]["Id"] == "e1"
    assert reply.request_id == "req-1"
    (body,) = sent_bodies(mock_http, ADD)
    assert body == {
        "ClientToken": CLIENT_TOKEN,
        "AccessToken": ACCESS_TOKEN,
        "Client": "tests 1.0",
        "EntityType": "OrderItem",
    }
    assert client.requests == 1


async def test_429_honours_retry_after_in_seconds(mock_http) -> None:
    mock_http.post(ADD, status=429, payload={"Message": "Too many requests", "RequestId": "r429"},
                   headers={"Retry-After": "1", "Request-Id": "r429"})
    mock_http.post(ADD, payload={"Export": export_doc("e2")})
    retries: list = []
    started = time.monotonic()
    reply, _ = await call_add(RetryPolicy(max_attempts=3, initial_delay=30, jitter=0), retries)
    assert reply.body["Export"]["Id"] == "e2"
    assert [delay for _, delay in retries] == [1.0]  # the server's hint, not the 30 s backoff
    assert isinstance(retries[0][0], RetryableHTTPError) and retries[0][0].request_id == "r429"
    assert time.monotonic() - started >= 0.95


async def test_429_honours_retry_after_as_an_http_date(mock_http) -> None:
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    mock_http.post(ADD, status=429, payload={"Message": "Slow down"}, headers={"Retry-After": when})
    mock_http.post(ADD, payload={"Export": export_doc("e3")})
    retries: list = []
    started = time.monotonic()
    reply, _ = await call_add(RetryPolicy(max_attempts=3, initial_delay=30, jitter=0), retries)
    assert reply.body["Export"]["Id"] == "e3"
    (delay,) = [d for _, d in retries]
    assert 0.5 < delay <= 2.0  # the date has one-second resolution
    assert time.monotonic() - started >= delay - 0.05


async def test_429_without_retry_after_backs_off_exponentially(mock_http) -> None:
    for _ in range(3):
        mock_http.post(ADD, status=429, payload={"Message": "Slow down"})
    mock_http.post(ADD, payload={"Export": export_doc("e4")})
    retries: list = []
    policy = RetryPolicy(max_attempts=5, initial_delay=0.02, max_delay=1.0, jitter=0.0)
    reply, client = await call_add(policy, retries)
    assert reply.body["Export"]["Id"] == "e4"
    delays = [round(d, 3) for _, d in retries]
    # Doubling from the initial delay (RetryPolicy computes the first two waits
    # from the same exponent: tenacity asks for the wait before the stop check).
    assert delays[0] == 0.02 and delays[-1] == 2 * delays[-2] and delays == sorted(delays)
    assert client.requests == 4


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
async def test_408_and_5xx_are_retried(mock_http, status: int) -> None:
    mock_http.post(ADD, status=status, payload={"Message": "try again", "RequestId": "x"})
    mock_http.post(ADD, payload={"Export": export_doc("e5")})
    retries: list = []
    reply, client = await call_add(FAST, retries)
    assert reply.body["Export"]["Id"] == "e5"
    assert len(retries) == 1 and retries[0][0].status == status
    assert client.requests == 2


async def test_retries_give_up_after_the_budget_with_the_last_error(mock_http) -> None:
    for _ in range(4):
        mock_http.post(ADD, status=503, payload={"Message": "down for maintenance"}, headers={"Request-Id": "r503"})
    with pytest.raises(RetryableHTTPError) as info:
        await call_add(FAST)
    assert info.value.status == 503
    assert "down for maintenance" in str(info.value) and "r503" in str(info.value)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (400, "Invalid EntityType 'Nope'."),
        (401, f"Invalid AccessToken {ACCESS_TOKEN}."),
        (403, f"Client {CLIENT_TOKEN} may not use exports."),
    ],
)
async def test_client_errors_fail_fast_with_message_and_request_id_and_no_token(
    mock_http, status: int, message: str
) -> None:
    mock_http.post(
        ADD,
        status=status,
        payload={"Message": message, "RequestId": "body-id", "Details": {"why": "because"}},
        headers={"Request-Id": "hdr-id-42"},
    )
    mock_http.post(ADD, payload={"Export": export_doc("never")})  # must not be reached
    retries: list = []
    with pytest.raises(HTTPError) as info:
        await call_add(FAST, retries)
    error = info.value
    assert not isinstance(error, RetryableHTTPError)
    assert retries == [] and len(mock_http.requests[("POST", URL(ADD))]) == 1
    text = str(error)
    assert error.status == status and f"HTTP {status}" in text
    assert "hdr-id-42" in text and error.request_id == "hdr-id-42"
    assert "exports/add" in text
    assert message.split(" ")[0] in text  # Mews's Message is quoted…
    assert ACCESS_TOKEN not in text and CLIENT_TOKEN not in text  # …but never a token
    assert ACCESS_TOKEN not in redact_text(repr(credentials()))


async def test_get_all_polls_every_pending_export_in_batches_of_1000(mock_http) -> None:
    ids = [f"00000000-0000-4000-8000-{i:012x}" for i in range(2345)]
    # Each answer describes only the first export of its batch: aioresponses cannot
    # feed bodies larger than aiohttp's read buffer (~100 kB for 1000 exports).
    for batch in (ids[:1000], ids[1000:2000], ids[2000:]):
        mock_http.post(GET_ALL, payload={"Exports": [export_doc(batch[0], "Processing")]})
    async with aiohttp.ClientSession() as session:
        client = MewsClient(credentials(), session, retry=FAST, limiter=SlidingWindowLimiter())
        lifecycle = ExportLifecycle(client, [ExportRequest("OrderItem")])
        found = await lifecycle.get_all(ids + ids[:10])  # duplicates are asked for once
    sent = [body["ExportIds"] for body in sent_bodies(mock_http, GET_ALL)]
    assert [len(batch) for batch in sent] == [1000, 1000, 345]
    assert sum(sent, []) == ids
    assert set(found) == {ids[0], ids[1000], ids[2000]} and found[ids[2000]].status == "Processing"
    assert lifecycle.polls == 3


async def test_unreachable_platform_is_an_http_error_naming_the_call() -> None:
    async with aiohttp.ClientSession() as session:
        creds = MewsCredentials("http://127.0.0.1:9", CLIENT_TOKEN, ACCESS_TOKEN)
        client = MewsClient(creds, session, retry=RetryPolicy(max_attempts=2, initial_delay=0.01, jitter=0),
                            limiter=SlidingWindowLimiter())
        with pytest.raises(HTTPError) as info:
            await client.call("exports", "getAll", {"ExportIds": ["x"]})
    text = str(info.value)
    assert "Mews exports/getAll failed after 2 attempts" in text and "127.0.0.1:9" in text
    assert isinstance(info.value.__cause__, aiohttp.ClientConnectionError)
    assert client.requests == 2
