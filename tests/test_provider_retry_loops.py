"""The providers' own request loops: what each retries, what it must never repeat, what it says.

A POST that may have reached the vendor (a dropped answer, a 502) is not
repeated: Rebilly would create a second export, LogiSense a second run.  A
GET is retried on any transient failure.  Rebilly's file download is resolved
without following the redirect, so the API key never reaches the storage host.
Each test talks to a scripted server on 127.0.0.1 and counts its requests.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from streamer.errors import ExportError, HTTPError
from streamer.http.retry import RetryPolicy
from streamer.providers.logisense.client import LogisenseClient
from streamer.providers.mews.client import MewsClient, MewsCredentials
from streamer.providers.rebilly.api import RebillyApi
from streamer.providers.rebilly.auth import RebillyAuth
from tests.support.local_server import serve_locally

FAST = RetryPolicy(max_attempts=3, initial_delay=0.0, max_delay=0.0, jitter=0.0)
KEY = "sk_test_provider_loops_0123456789"
BREAK = "break"
"""An answer that announces 100 bytes and sends 10: the body breaks after the status."""


@dataclass
class Scripted:
    """Answers request ``n`` to a path with ``answers[path][n]`` (the last one repeats)."""

    answers: dict[str, list[Any]]
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.seen.append((request.method, path, dict(request.headers)))
        script = self.answers[path]
        answer = script[min(sum(1 for _, p, _ in self.seen if p == path) - 1, len(script) - 1)]
        if answer == BREAK:
            response = web.StreamResponse(status=200, headers={"Content-Length": "100"})
            await response.prepare(request)
            await response.write(b'{"id": "ha')
            request.transport.close()  # type: ignore[union-attr]
            return response
        status, body, headers = answer
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        return web.Response(status=status, body=data, headers={"Content-Type": "application/json", **headers})

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p, _ in self.seen if (m, p) == (method, path))


@asynccontextmanager
async def scripted(answers: dict[str, list[Any]]) -> AsyncIterator[tuple[Scripted, str, aiohttp.ClientSession]]:
    server = Scripted(answers)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    async with serve_locally(app, shutdown_timeout=0.5) as base_url, aiohttp.ClientSession() as session:
        yield server, base_url, session


def _rebilly(session: aiohttp.ClientSession, base_url: str) -> RebillyApi:
    return RebillyApi(session, base_url=base_url, organization_id="org-1", auth=RebillyAuth(api_key=KEY), retry=FAST)


EXPORTS = "/organizations/org-1/experimental/data-exports"
DOWNLOAD = "/organizations/org-1/files/file-1/download"


# ------------------------------------------------------------------ Rebilly


async def test_rebilly_retries_a_post_only_when_the_server_certainly_did_not_act() -> None:
    answers = {EXPORTS: [(503, {"detail": "maintenance"}, {"Retry-After": "0"}), (201, {"id": "exp-1"}, {})]}
    async with scripted(answers) as (server, base_url, session):
        created = await _rebilly(session, base_url).create_export({"resource": "transactions"})
    assert created["id"] == "exp-1" and server.count("POST", EXPORTS) == 2
    (_, _, first), _ = server.seen
    assert first["Content-Type"] == "application/json" and first["REB-APIKEY"] == KEY


async def test_rebilly_does_not_repeat_a_post_answered_502_and_keeps_the_answers_facts() -> None:
    answers = {EXPORTS: [(502, {"detail": "upstream hiccup"}, {"X-Request-Id": "req-502"})]}
    async with scripted(answers) as (server, base_url, session):
        with pytest.raises(HTTPError) as info:
            await _rebilly(session, base_url).create_export({"resource": "transactions"})
    error = info.value
    assert type(error) is HTTPError, "a retryable error type would let a caller repeat the POST"
    assert server.count("POST", EXPORTS) == 1
    assert (error.status, error.request_id) == (502, "req-502")
    assert error.url == f"{base_url}{EXPORTS}" and error.details == {"detail": "upstream hiccup"}
    assert str(error).startswith("create data export failed: upstream hiccup")


async def test_rebilly_does_not_repeat_a_post_whose_answer_broke() -> None:
    async with scripted({EXPORTS: [BREAK, (201, {"id": "exp-2"}, {})]}) as (server, base_url, session):
        with pytest.raises(aiohttp.ClientPayloadError):
            await _rebilly(session, base_url).create_export({"resource": "transactions"})
    assert server.count("POST", EXPORTS) == 1


async def test_rebilly_retries_a_get_whose_answer_broke_and_sends_no_content_type() -> None:
    path = f"{EXPORTS}/exp-1"
    async with scripted({path: [BREAK, (200, {"id": "exp-1", "status": "pending"}, {})]}) as (server, base_url, session):
        export = await _rebilly(session, base_url).get_export("exp-1")
    assert export["status"] == "pending" and server.count("GET", path) == 2
    assert all("Content-Type" not in headers and headers["REB-APIKEY"] == KEY for _, _, headers in server.seen)


async def test_rebilly_says_which_call_answered_something_that_is_not_json() -> None:
    path = f"{EXPORTS}/exp-1"
    async with scripted({path: [(200, b"<oops>", {})]}) as (_, base_url, session):
        with pytest.raises(ExportError, match=r"^get data export exp-1: the response is not JSON \(.+\)$"):
            await _rebilly(session, base_url).get_export("exp-1")


async def test_rebilly_download_redirect_is_resolved_not_followed_and_carries_no_key(caplog) -> None:
    answers = {DOWNLOAD: [(503, {"detail": "busy"}, {"Retry-After": "0"}),
                          (302, b"", {"Location": "/storage/file-1.csv?X-Amz-Signature=abc"})],
               "/storage/file-1.csv": [(200, b"never asked", {})]}
    async with scripted(answers) as (server, base_url, session):
        api = _rebilly(session, base_url)
        with caplog.at_level(logging.DEBUG, logger="streamer.rebilly"):
            url, headers = await api.resolve_download(api.file_download_url("file-1"))
    assert (url, headers) == (f"{base_url}/storage/file-1.csv?X-Amz-Signature=abc", {})
    logged = [r.getMessage() for r in caplog.records if r.name == "streamer.rebilly"]
    assert logged == [f"file download redirects to {base_url}/storage/file-1.csv?…"]  # the signature redacted
    assert server.count("GET", DOWNLOAD) == 2 and server.count("GET", "/storage/file-1.csv") == 0
    assert all(headers["REB-APIKEY"] == KEY for _, _, headers in server.seen)


async def test_rebilly_download_answered_with_the_bytes_is_streamed_from_the_api_with_the_key() -> None:
    async with scripted({DOWNLOAD: [(200, b"id,amount\n1,2\n", {})]}) as (server, base_url, session):
        api = _rebilly(session, base_url)
        url, headers = await api.resolve_download(api.file_download_url("file-1"))
    assert (url, headers) == (f"{base_url}{DOWNLOAD}", {"REB-APIKEY": KEY})


@pytest.mark.parametrize(("answer", "why"), [
    ((302, b"", {}), r"download file http://127\.0\.0\.1:\d+/organizations/org-1/files/file-1/download failed"),
    ((404, {"detail": "no such file"}, {}), r"download file .* failed: no such file"),
    ((300, {"detail": "pick one"}, {}), r"download file .* failed: pick one"),  # 3xx but no redirect: not a success
    ((502, b"Bad Gateway\r\n  nginx\n", {}), r"download file .* failed: Bad Gateway nginx — HTTP 502"),
])
async def test_rebilly_download_without_a_target_or_a_file_is_an_error_naming_the_file(answer, why) -> None:
    async with scripted({DOWNLOAD: [answer]}) as (server, base_url, session):
        api = _rebilly(session, base_url)
        with pytest.raises(HTTPError) as info:
            await api.resolve_download(api.file_download_url("file-1"))
    assert re.match(why, str(info.value)), str(info.value)
    assert info.value.status == answer[0] and server.count("GET", DOWNLOAD) == (3 if answer[0] == 502 else 1)


# ---------------------------------------------------------------- LogiSense


class Tokens:
    """The client's side of LogiSense's login: a token per login, and the rejected ones."""

    def __init__(self) -> None:
        self.issued = 0
        self.rejected: list[str] = []

    async def token(self, session: aiohttp.ClientSession) -> str:
        return f"token-{self.issued}"

    async def invalidate(self, session: aiohttp.ClientSession, rejected: str) -> None:
        self.rejected.append(rejected)
        self.issued += 1


def _logisense(session: aiohttp.ClientSession, base_url: str, tokens: Tokens | None = None) -> LogisenseClient:
    return LogisenseClient(session, base_url + "/api", tokens or Tokens(), retry=FAST)  # type: ignore[arg-type]


async def test_logisense_retries_a_get_on_a_broken_answer_and_a_5xx() -> None:
    answers = {"/api/DataExport/1": [BREAK, (503, {"message": "busy"}, {}), (200, {"instance": 1}, {})]}
    async with scripted(answers) as (server, base_url, session):
        assert await _logisense(session, base_url).get("DataExport/1") == {"instance": 1}
    assert server.count("GET", "/api/DataExport/1") == 3
    assert all(h["Authorization"] == "Bearer token-0" and "Content-Type" not in h for _, _, h in server.seen)


async def test_logisense_does_not_repeat_a_post_whose_answer_broke_but_retries_a_5xx() -> None:
    async with scripted({"/api/DataExport/Run": [BREAK, (200, {"ok": True}, {})]}) as (server, base_url, session):
        with pytest.raises(aiohttp.ClientPayloadError):
            await _logisense(session, base_url).post("DataExport/Run", {"id": 7})
    assert server.count("POST", "/api/DataExport/Run") == 1
    answers = {"/api/DataExport/Run": [(503, {"message": "busy"}, {}), (200, {"ok": True}, {})]}
    async with scripted(answers) as (server, base_url, session):
        assert await _logisense(session, base_url).post("DataExport/Run", {"id": 7}) == {"ok": True}
    assert server.count("POST", "/api/DataExport/Run") == 2
    (_, _, headers), _ = server.seen
    assert headers["Content-Type"] == "application/json"


async def test_logisense_re_logs_in_once_on_a_401_then_gives_up() -> None:
    tokens = Tokens()
    answers = {"/api/x": [(401, {"message": "expired"}, {}), (200, {"n": 1}, {})]}
    async with scripted(answers) as (server, base_url, session):
        assert await _logisense(session, base_url, tokens).get("x") == {"n": 1}
    assert tokens.rejected == ["token-0"] and [h["Authorization"] for _, _, h in server.seen] == [
        "Bearer token-0", "Bearer token-1"]
    tokens = Tokens()
    async with scripted({"/api/x": [(401, {"message": "expired"}, {})]}) as (server, base_url, session):
        with pytest.raises(HTTPError) as info:
            await _logisense(session, base_url, tokens).get("x")
    assert info.value.status == 401 and tokens.rejected == ["token-0"] and server.count("GET", "/api/x") == 2


@pytest.mark.parametrize(("body", "why"), [
    (b"<html>", r"LogiSense GET x: answer is not JSON \(b'<html>'\)"),
    (b"[1, 2]", r"LogiSense GET x: expected a JSON object, got (a )?(list|array)"),
])
async def test_logisense_says_which_call_answered_something_that_is_no_object(body, why) -> None:
    async with scripted({"/api/x": [(200, body, {"X-Request-Id": "r-1"})]}) as (_, base_url, session):
        with pytest.raises(HTTPError) as info:
            await _logisense(session, base_url).get("x")
    assert re.fullmatch(why, str(info.value).split(" — ")[0]), str(info.value)
    assert info.value.status == 200 and info.value.request_id == "r-1"


async def test_rebilly_keeps_every_invalid_field_of_a_problem_on_one_line_up_to_2000_characters() -> None:
    fields = [{"field": f"field{i:03}", "message": "must be a valid date\nin ISO 8601"} for i in range(80)]
    problem = {"title": "Invalid data", "invalidFields": fields}
    async with scripted({EXPORTS: [(422, problem, {})]}) as (_, base_url, session):
        with pytest.raises(HTTPError) as info:
            await _rebilly(session, base_url).create_export({"resource": "transactions"})
    message = str(info.value).split(" — HTTP 422")[0].removeprefix("create data export failed: ")
    assert len(message) == 2000 and "\n" not in message and "field010: must be a valid date in ISO 8601" in message


async def test_logisense_errors_name_the_call_the_url_and_only_the_start_of_a_body() -> None:
    async with scripted({"/api/x": [(404, {"message": "no such export"}, {})]}) as (_, base_url, session):
        with pytest.raises(HTTPError) as info:
            await _logisense(session, base_url).get("x")
    assert str(info.value).startswith("LogiSense GET x failed: no such export")
    junk = b"<" + b"x" * 300
    async with scripted({"/api/x": [(200, junk, {})]}) as (server, base_url, session):
        with pytest.raises(HTTPError) as info:
            await _logisense(session, base_url).get("x")
    assert f"answer is not JSON ({junk[:100]!r})" in str(info.value) and info.value.url == f"{base_url}/api/x"
    assert server.seen[0][2]["Accept"] == "application/json"


async def test_rebilly_takes_a_created_exports_id_from_location_when_the_body_is_empty() -> None:
    answers = {EXPORTS: [(201, b"", {"Location": f"{EXPORTS}/exp-9"})]}
    async with scripted(answers) as (_, base_url, session):
        created = await _rebilly(session, base_url).create_export({"resource": "transactions"})
    assert created == {"id": "exp-9"}


async def test_rebilly_plain_text_errors_keep_undecodable_bytes_and_no_details() -> None:
    async with scripted({EXPORTS: [(400, b"\xff bad request", {})]}) as (_, base_url, session):
        with pytest.raises(HTTPError) as info:
            await _rebilly(session, base_url).create_export({"resource": "transactions"})
    assert str(info.value).startswith("create data export failed: \ufffd bad request") and info.value.details is None


# --------------------------------------------------------------------- Mews


def _mews(session: aiohttp.ClientSession, base_url: str, retry: RetryPolicy = FAST) -> MewsClient:
    return MewsClient(MewsCredentials(base_url, "client-token-123456", "access-token-123456"), session, retry=retry)


@pytest.mark.parametrize(("answers", "reason"), [
    ([BREAK], r"ClientPayloadError: .+"),
    ([(503, b"", {})], r"Mews configuration/get failed — HTTP 503 — url .+"),
])
async def test_mews_gives_up_after_its_budget_naming_the_operation_and_the_reason(answers, reason) -> None:
    path = "/api/connector/v1/configuration/get"
    async with scripted({path: answers}) as (server, base_url, session):
        client = _mews(session, base_url)
        with pytest.raises(HTTPError) as info:
            await client.call("configuration", "get")
    assert server.count("POST", path) == FAST.max_attempts == client.requests
    message = str(info.value)
    if answers == [BREAK]:  # a transport error: streamer's own words, with the type of what broke
        assert re.fullmatch(rf"Mews configuration/get failed after 3 attempts: {reason}", message), message
    else:  # the server's answer, as raise_for_response words it
        assert re.fullmatch(reason, message), message


async def test_mews_posts_json_and_quotes_the_request_id() -> None:
    path = "/api/connector/v1/configuration/get"
    async with scripted({path: [(200, {"Enterprise": {"Id": "e-1"}}, {"Request-Id": "mews-req-1"})]}) as (
            server, base_url, session):
        client = _mews(session, base_url)
        reply = await client.call("configuration", "get", {"Limitation": {"Count": 10}})
    assert reply.body == {"Enterprise": {"Id": "e-1"}} and reply.request_id == "mews-req-1"
    ((method, _, headers),) = server.seen
    assert method == "POST" and headers["Content-Type"] == "application/json" and headers["Accept"] == "application/json"


async def test_mews_says_which_operation_answered_something_that_is_not_json() -> None:
    path = "/api/connector/v1/configuration/get"
    async with scripted({path: [(200, b"<html>", {"Request-Id": "mews-req-2"})]}) as (_, base_url, session):
        client = _mews(session, base_url)
        with pytest.raises(HTTPError) as info:
            await client.call("configuration", "get")
    error = info.value
    assert str(error).startswith("Mews configuration/get returned a body that is not JSON (6 bytes)")
    assert (error.status, error.request_id) == (200, "mews-req-2")


async def test_mews_giving_up_on_a_timeout_names_the_error_type_and_the_redacted_url() -> None:
    """A total timeout is an exception without a message: its type is the reason."""
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/api/connector/v1/configuration/get", slow)
    async with serve_locally(app, shutdown_timeout=0.1) as base_url, aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=0.2)) as session:
        client = _mews(session, base_url, RetryPolicy(max_attempts=2, initial_delay=0.0, max_delay=0.0, jitter=0.0))
        with pytest.raises(HTTPError) as info:
            await client.call("configuration", "get")
    assert re.fullmatch(r"Mews configuration/get failed after 2 attempts: TimeoutError — url http://\S+", str(info.value)), str(info.value)
    assert info.value.url == f"{base_url}/api/connector/v1/configuration/get"


async def test_rebilly_quotes_a_request_id_given_in_the_problem_and_says_nothing_more_than_failed_for_an_empty_error() -> None:
    async with scripted({EXPORTS: [(409, {"detail": "conflict", "requestId": "rb-77"}, {})]}) as (_, base_url, session):
        with pytest.raises(HTTPError) as info:
            await _rebilly(session, base_url).create_export({"resource": "transactions"})
    assert info.value.request_id == "rb-77"
    async with scripted({EXPORTS: [(400, b"", {})]}) as (_, base_url, session):
        with pytest.raises(HTTPError) as info:
            await _rebilly(session, base_url).create_export({"resource": "transactions"})
    assert str(info.value).startswith("create data export failed — HTTP 400"), str(info.value)
