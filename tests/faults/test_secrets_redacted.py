"""No secret in any output: servers that echo the signed URL and its token.

Real local servers answer a signed download with 403/503/400 bodies (text,
JSON, S3 XML) and ``Location`` headers that quote the request's URL — its
``X-Amz-Signature``, ``token`` and ``Expires`` — and the bare token.  The CLI
runs as a subprocess at ``-vv`` with text and JSON logs, a state file and a
dead-letter file; the signature and the token must appear in none of them.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import orjson
import pytest
from aiohttp import web

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]

SIGNATURE = "f3a9c1d2e4b5a6978812ab34cd56ef7890aa11bb22cc33dd44ee55ff66a7b8c9"
TOKEN = "tok_live_SeCrEt_4242"
QUERY = f"X-Amz-Expires=300&X-Amz-Signature={SIGNATURE}&token={TOKEN}"
LEAKS = (SIGNATURE, TOKEN, "X-Amz-Signature=", "token=tok")

GOOD = b"".join(orjson.dumps({"Id": f"r{i}", "n": i}) + b"\n" for i in range(20)) + b"{not json\n"


def _echo(request: web.Request) -> str:
    return f"request {request.url} refused; your token {TOKEN} has expired"


@web.middleware
async def _after_the_good_part(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """The failing part answers late, so the good part's records are out before the run fails."""
    if request.path.endswith("/b.jsonl"):  # its first request only, not the redirects that follow
        await asyncio.sleep(1.0)
    return await handler(request)


async def _good(request: web.Request) -> web.Response:
    return web.Response(body=GOOD, content_type="application/x-ndjson")


async def _forbidden_text(request: web.Request) -> web.Response:
    return web.Response(status=403, text=_echo(request))


async def _unavailable_json(request: web.Request) -> web.Response:
    body = {"message": _echo(request), "details": {"url": str(request.url), "token": TOKEN}}
    return web.json_response(body, status=503, headers={"Retry-After": "0"})


async def _bad_request_xml(request: web.Request) -> web.Response:
    xml = f"<Error><Code>SignatureDoesNotMatch</Code><Message>{_echo(request)}</Message></Error>"
    return web.Response(status=400, text=xml, content_type="application/xml")


async def _redirect_relative(request: web.Request) -> web.Response:
    raise web.HTTPFound(f"/forbidden-text/moved.jsonl?{QUERY}")


async def _redirect_absolute(request: web.Request) -> web.Response:
    raise web.HTTPFound(f"{request.url.scheme}://{request.host}/bad-request-xml/moved.jsonl?{QUERY}")


async def _redirect_loop(request: web.Request) -> web.Response:
    raise web.HTTPFound(f"/loop/again.jsonl?{QUERY}&hop={len(request.path)}")


ROUTES = {
    "forbidden-text": _forbidden_text,
    "unavailable-json": _unavailable_json,
    "bad-request-xml": _bad_request_xml,
    "redirect-relative": _redirect_relative,
    "redirect-absolute": _redirect_absolute,
    "loop": _redirect_loop,
}


@pytest.fixture
async def server():
    app = web.Application(middlewares=[_after_the_good_part])
    app.router.add_get("/good/{name}", _good)
    for prefix, handler in ROUTES.items():
        app.router.add_get(f"/{prefix}/{{name}}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def _cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streamer.cli.main", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 90)
    return process.returncode, out.decode(), err.decode()


def _assert_clean(text: str, where: str) -> None:
    for leak in LEAKS:
        assert leak not in text, f"{leak!r} leaked into {where}: …{text[max(0, text.find(leak) - 100):][:240]}"


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("route", list(ROUTES))
async def test_echoed_signatures_and_tokens_reach_no_output(server, tmp_path: Path, route: str, log_format: str):
    state, dead = tmp_path / "state.json", tmp_path / "dead.jsonl"
    urls = [f"{server}/good/a.jsonl?{QUERY}", f"{server}/{route}/b.jsonl?{QUERY}"]
    code, out, err = await _cli(
        "-vv", "--log-format", log_format, "urls", *urls, "--concurrency", "1", "--retries", "2",
        "--state", str(state), "--bad-lines", "skip", "--dead-letter", str(dead),
    )
    assert code == 1, err
    if "Traceback" in err:  # only an unexpected error's, asked for by -vv: redacted like the rest
        assert route == "loop" and "(run with -vv for the traceback)" in err.splitlines()[-1]
    assert len(out.splitlines()) == 20  # the good part's records: the run really ran
    assert dead.exists() and "not json" in dead.read_text()  # and dead-lettered its bad line
    assert "streamer: error:" in err.splitlines()[-1]
    last = err.splitlines()[-1]
    assert "part 1 (b.jsonl)" in last or (route == "loop" and "/loop/b.jsonl?…" in last)  # the part is named…
    _assert_clean(err, "stderr")  # …and nothing else of its URL, nor the token
    _assert_clean(out, "stdout")
    _assert_clean(state.read_text(), "the state file")
    _assert_clean(dead.read_text(), "the dead-letter file")
    if log_format == "json":
        for line in err.splitlines()[:-1]:
            if line.startswith("{"):
                orjson.loads(line)  # still one JSON object per line after redaction


def test_the_redaction_masks_every_query_whatever_its_names() -> None:
    from streamer.redaction import redact_text

    text = redact_text(
        "GET https://bucket.s3.local/x.jsonl?Expires=1&Signature=QQQ&Key-Pair-Id=K, "
        "then /y.jsonl?anything=goes , then s3://b/k?versionId=9 and Bearer abcdefghijkl; sig=zzz"
    )
    assert text == (
        "GET https://bucket.s3.local/x.jsonl?…, then /y.jsonl?… , then s3://b/k?… and Bearer ***; sig=***"
    )


def test_formatters_and_filter_redact_messages_arguments_extras_and_tracebacks() -> None:
    import logging

    from streamer.logs import JsonFormatter, RedactingFilter, TextFormatter

    url = f"https://bucket.s3.local/x.jsonl?{QUERY}"
    try:
        raise RuntimeError(f"GET {url} failed")
    except RuntimeError:
        import sys as _sys

        exc_info = _sys.exc_info()
    record = logging.LogRecord("streamer.test", logging.WARNING, __file__, 1, "cannot read %s", (url,), exc_info)
    record.where = {"url": url, "token": "anything"}
    outputs = {
        "text": TextFormatter().format(record),
        "json": JsonFormatter().format(record),
    }
    filtered = logging.makeLogRecord(dict(vars(record), exc_text=None))
    RedactingFilter().filter(filtered)
    outputs["filter"] = logging.Formatter("%(message)s").format(filtered)
    for where, text in outputs.items():
        _assert_clean(text, where)
        assert "https://bucket.s3.local/x.jsonl?…" in text, (where, text)
    entry = orjson.loads(outputs["json"])
    assert entry["where"] == {"url": "https://bucket.s3.local/x.jsonl?…", "token": "***"}
    assert "RuntimeError: GET https://bucket.s3.local/x.jsonl?… failed" in entry["exception"]
    assert "RuntimeError: GET https://bucket.s3.local/x.jsonl?… failed" in outputs["filter"]
