"""A real S3 API on 127.0.0.1 for tests: moto in server mode, plus an expiry front.

moto 5.x serves presigned GETs, ``Range`` (206) and S3's XML errors, but does
not enforce ``X-Amz-Expires`` (checked: ``moto/settings.py`` has no such
switch; its IAM checks, ``INITIAL_NO_AUTH_ACTION_COUNT``, cover header-signed
requests only).  :class:`S3ExpiryFront` is a thin aiohttp proxy that does what
S3 does first — ``now > X-Amz-Date + X-Amz-Expires`` → 403 ``AccessDenied`` /
"Request has expired" in S3's own XML — and otherwise streams moto's answer
through unchanged (status, ``Content-Range``, ``ETag``…), so 206 comes from
moto.  It can also cut one response mid-body, after holding it for a while
(so the link expires during the drop), and it records every answer.

Links are presigned by boto3 against the front's address (``endpoint_url``),
path-style and SigV4, exactly as a client would receive them from LogiSense.
"""

from __future__ import annotations

import asyncio
import calendar
import socket
import time
import uuid
from dataclasses import dataclass, field
from types import TracebackType

import aiohttp
import boto3
from aiohttp import web
from botocore.config import Config
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
PASS_REQUEST = ("Range", "If-Range", "If-Match", "If-None-Match")
PASS_RESPONSE = (
    "Content-Type",
    "Content-Length",
    "Content-Range",
    "ETag",
    "Last-Modified",
    "Accept-Ranges",
    "x-amz-request-id",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoS3:
    """``ThreadedMotoServer`` on a free 127.0.0.1 port with one bucket."""

    def __init__(self, bucket: str = "logisense-exports") -> None:
        self.bucket = bucket
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
        self.endpoint = ""

    def __enter__(self) -> MotoS3:
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.client = self.client_for(self.endpoint)
        self.client.create_bucket(Bucket=self.bucket)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    @staticmethod
    def client_for(endpoint: str):  # type: ignore[no-untyped-def]
        return boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=REGION,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
            **CREDENTIALS,
        )

    def put(self, key: str, data: bytes, content_type: str = "text/csv") -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)


@dataclass
class S3ExpiryFront:
    """Validates presigned expiry like S3, then streams the request through to moto."""

    upstream: str
    drop_once_at: int | None = None
    """Cut the first response that covers this absolute byte offset, once."""
    hold_before_drop: float = 0.0
    """Seconds to stall before that cut (links issued before it expire meanwhile)."""
    answers: list[tuple[int, str | None]] = field(default_factory=list)
    """(status, Range header) of every request, in order."""
    base_url: str = ""

    async def __aenter__(self) -> S3ExpiryFront:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._runner.cleanup()
        await self._session.close()

    def presign(self, bucket: str, key: str, expires_in: int) -> str:
        """A boto3 presigned GET URL that points at this front."""
        client = MotoS3.client_for(self.base_url)
        return client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in
        )

    @property
    def statuses(self) -> list[int]:
        return [status for status, _ in self.answers]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        expired = self._expiry_problem(request)
        if expired is not None:
            self.answers.append((403, request.headers.get("Range")))
            return expired
        headers = {k: v for k in PASS_REQUEST if (v := request.headers.get(k))}
        async with self._session.get(f"{self.upstream}{request.path_qs}", headers=headers) as upstream:
            self.answers.append((upstream.status, request.headers.get("Range")))
            response = web.StreamResponse(status=upstream.status)
            for name in PASS_RESPONSE:
                if name in upstream.headers:
                    response.headers[name] = upstream.headers[name]
            await response.prepare(request)
            pos = self._first_byte(upstream)
            async for chunk in upstream.content.iter_chunked(64 * 1024):
                end = pos + len(chunk)
                if self.drop_once_at is not None and pos <= self.drop_once_at < end:
                    cut, self.drop_once_at = self.drop_once_at, None
                    await response.write(chunk[: cut - pos])
                    await asyncio.sleep(self.hold_before_drop or 0.01)
                    assert request.transport is not None
                    request.transport.abort()
                    raise asyncio.CancelledError  # end the handler without finishing the body
                await response.write(chunk)
                pos = end
            await response.write_eof()
            return response

    @staticmethod
    def _first_byte(upstream: aiohttp.ClientResponse) -> int:
        content_range = upstream.headers.get("Content-Range", "")
        if content_range.startswith("bytes ") and "-" in content_range:
            return int(content_range[6:].split("-", 1)[0])
        return 0

    @staticmethod
    def _expiry_problem(request: web.Request) -> web.Response | None:
        """S3's answer to an expired (or unsigned) query-string request, else ``None``."""
        signed_at = request.query.get("X-Amz-Date")
        expires = request.query.get("X-Amz-Expires")
        request_id = uuid.uuid4().hex[:16].upper()
        if not signed_at or not expires:
            return _s3_error("AccessDenied", "Query-string authentication requires X-Amz-Date and X-Amz-Expires", request_id)
        try:
            start = calendar.timegm(time.strptime(signed_at, "%Y%m%dT%H%M%SZ"))
            lifetime = int(expires)
        except ValueError:
            return _s3_error("AuthorizationQueryParametersError", "Invalid X-Amz-Date or X-Amz-Expires", request_id)
        now = time.time()
        if now > start + lifetime:
            server_time = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
            expired_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + lifetime))
            extra = f"<X-Amz-Expires>{lifetime}</X-Amz-Expires><Expires>{expired_at}</Expires><ServerTime>{server_time}</ServerTime>"
            return _s3_error("AccessDenied", "Request has expired", request_id, extra)
        return None


def _s3_error(code: str, message: str, request_id: str, extra: str = "") -> web.Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>{extra}"
        f"<RequestId>{request_id}</RequestId><HostId>{uuid.uuid4().hex}</HostId></Error>"
    )
    return web.Response(
        status=403, body=body.encode(), content_type="application/xml", headers={"x-amz-request-id": request_id}
    )
