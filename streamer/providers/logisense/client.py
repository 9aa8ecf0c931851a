"""The LogiSense resource server (REST v10): authenticated JSON calls with retries.

Every LogiSense answer carries a ``trackingId``; :func:`raise_for_response`
puts it in the error (``request id …``, taken from the body or the
``X-Tracking-Id`` header) so a failure can be quoted to LogiSense support.
Idempotent calls (GET) are retried on transient failures; POSTs only on 429
and 5xx answers, since a lost answer to ``Trigger`` may have started an export.
A 401 refreshes the token once and repeats the call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson

from streamer.errors import ConfigError, HTTPError, RetryableHTTPError, json_type
from streamer.http.redact import redact_url
from streamer.http.responses import raise_for_response, request_id_of
from streamer.http.retry import RetryPolicy
from streamer.providers.logisense.auth import LogisenseAuth

DEFAULT_HOST = "https://{tenant}.logisensebilling.com"
RESOURCE_PATH = "/ResourceServer/api/v10/"


def base_url_for(base_url: str | None = None, tenant: str | None = None) -> str:
    """The resource server's API root, ending in ``/`` (``…/ResourceServer/api/v10/``).

    The documented host shape is unconfirmed, hence a full ``base_url`` wins;
    a bare host gets the resource path appended.
    """
    if base_url:
        url = base_url.rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"LogiSense base URL must start with http:// or https://, not {base_url!r}")
        if not url.endswith("/api/v10"):
            url += RESOURCE_PATH.rstrip("/")
        return url + "/"
    if tenant:
        return DEFAULT_HOST.format(tenant=tenant) + RESOURCE_PATH
    raise ConfigError("LogiSense needs a base URL (or a tenant name)")


class LogisenseClient:
    """Calls ``<base_url><path>`` with the tenant's bearer token."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        auth: LogisenseAuth,
        *,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.session = session
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.auth = auth
        self.retry = retry or RetryPolicy()

    async def get(self, path: str, *, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, body: Any = None) -> dict[str, Any]:
        return await self.request("POST", path, json_body=body if body is not None else {})

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
    ) -> dict[str, Any]:
        """The decoded JSON answer; raises :class:`HTTPError` carrying the ``trackingId``."""
        retry_on: tuple[type[BaseException], ...] | None = (RetryableHTTPError,) if method != "GET" else None
        retrying = self.retry.retrying(retry_on=retry_on) if retry_on else self.retry.retrying()
        return await retrying(self._once, method, path, params, json_body)

    async def _once(
        self, method: str, path: str, params: Mapping[str, Any] | None, json_body: Any
    ) -> dict[str, Any]:
        what = f"LogiSense {method} {path}"
        refreshed = False
        while True:
            token = await self.auth.token(self.session)
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            data = None
            if json_body is not None:
                data = orjson.dumps(json_body)
                headers["Content-Type"] = "application/json"
            async with self.session.request(
                method, self.base_url + path, params=params, data=data, headers=headers
            ) as resp:
                if resp.status == 401 and not refreshed:
                    refreshed = True
                    await resp.read()
                    await self.auth.invalidate(self.session, token)
                    continue
                await raise_for_response(resp, what=what)
                body = await resp.read()
                try:
                    doc = orjson.loads(body)
                except orjson.JSONDecodeError:
                    raise HTTPError(
                        f"{what}: answer is not JSON ({body[:100]!r})",
                        status=resp.status,
                        url=redact_url(str(resp.url)),
                        request_id=request_id_of(resp.headers),
                    ) from None
                if not isinstance(doc, dict):
                    raise HTTPError(
                        f"{what}: expected a JSON object, got {json_type(doc)}",
                        status=resp.status,
                        request_id=request_id_of(resp.headers),
                    )
                return doc
