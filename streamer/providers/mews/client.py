"""The Mews Connector API transport: POST JSON with body auth, limits and retries.

Every Connector call is ``POST {platform}/api/connector/v1/{resource}/{action}``
with ``ClientToken``, ``AccessToken`` and ``Client`` in the JSON body.  This
module owns what every call shares:

* the per-token sliding-window limiter (200 requests / 30 s) *before* each
  attempt, retries included;
* retries of 408, 429 and 5xx (and dropped connections) with exponential
  backoff and jitter, where a 429's ``Retry-After`` (seconds or HTTP date)
  replaces the backoff;
* fail-fast 400/401/403 carrying Mews's ``Message`` and the ``Request-Id``;
* tokens registered as secrets, so no log line or error ever shows them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from streamer._version import __version__
from streamer.errors import ConfigError, HTTPError, describe_exception
from streamer.http.redact import redact_text, redact_url, register_secret
from streamer.http.responses import raise_for_response, request_id_of
from streamer.http.retry import RetryPolicy
from streamer.providers.mews.limiter import SlidingWindowLimiter, limiter_for

log = logging.getLogger("streamer.mews")

DEMO_PLATFORM_URL = "https://api.mews-demo.com"
PRODUCTION_PLATFORM_URL = "https://api.mews.com"
API_PATH = "/api/connector/v1"
DEFAULT_CLIENT = f"streamer {__version__}"


@dataclass(frozen=True)
class MewsCredentials:
    """Where and as whom to call the Connector API; ``repr`` never shows the tokens."""

    platform_url: str
    client_token: str = field(repr=False)
    access_token: str = field(repr=False)
    client: str = DEFAULT_CLIENT

    def __post_init__(self) -> None:
        missing = [
            name
            for name, value in (
                ("platform URL", self.platform_url),
                ("client token", self.client_token),
                ("access token", self.access_token),
                ("client name", self.client),
            )
            if not value
        ]
        if missing:
            raise ConfigError(f"Mews: missing {', '.join(missing)}")
        if not self.platform_url.startswith(("http://", "https://")):
            raise ConfigError(f"Mews: platform URL must start with https:// (got {self.platform_url!r})")
        register_secret(self.client_token)
        register_secret(self.access_token)

    def endpoint(self, resource: str, action: str) -> str:
        return f"{self.platform_url.rstrip('/')}{API_PATH}/{resource}/{action}"


@dataclass(frozen=True)
class MewsReply:
    """A successful response: its JSON object and the ``Request-Id`` to quote in errors."""

    body: dict[str, Any]
    request_id: str | None


RetryHook = Callable[[BaseException, float], None]


class MewsClient:
    """Calls Connector operations on a session it does not own."""

    def __init__(
        self,
        credentials: MewsCredentials,
        session: aiohttp.ClientSession,
        *,
        retry: RetryPolicy | None = None,
        limiter: SlidingWindowLimiter | None = None,
        on_retry: RetryHook | None = None,
    ) -> None:
        self.credentials = credentials
        self.session = session
        self.retry = retry or RetryPolicy()
        self.limiter = limiter or limiter_for(credentials.access_token)
        self.on_retry = on_retry
        self.requests = 0
        """Requests sent (attempts, retries included)."""

    async def call(self, resource: str, action: str, payload: dict[str, Any] | None = None) -> MewsReply:
        """POST one operation and return its JSON body; raise a located error otherwise."""
        creds = self.credentials
        what = f"Mews {resource}/{action}"
        body = orjson.dumps(
            {
                "ClientToken": creds.client_token,
                "AccessToken": creds.access_token,
                "Client": creds.client,
                **(payload or {}),
            }
        )
        url = creds.endpoint(resource, action)
        retrying = self.retry.retrying(on_retry=self._retried)  # on TRANSIENT_ERRORS, the default
        try:
            return await retrying(self._attempt, url, body, what)
        except (aiohttp.ClientError, TimeoutError) as exc:
            # Out of retries on a transport failure: say which call and where, in our error type.
            reason = describe_exception(exc)
            raise HTTPError(
                redact_text(f"{what} failed after {self.retry.max_attempts} attempts: {reason}"),
                url=redact_url(url),
            ) from exc

    async def _attempt(self, url: str, body: bytes, what: str) -> MewsReply:
        await self.limiter.acquire()
        self.requests += 1
        async with self.session.post(
            url, data=body, headers={"Content-Type": "application/json", "Accept": "application/json"}
        ) as response:
            await raise_for_response(response, what=what)
            raw = await response.read()
            request_id = request_id_of(response.headers)
            return MewsReply(_json_object(raw, what, request_id, response.status), request_id)

    def _retried(self, exc: BaseException, delay: float) -> None:
        if self.on_retry is not None:
            self.on_retry(exc, delay)


def _json_object(raw: bytes, what: str, request_id: str | None, status: int) -> dict[str, Any]:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise HTTPError(
            f"{what} returned a body that is not JSON ({len(raw)} bytes)", status=status, request_id=request_id
        ) from exc
    if not isinstance(doc, dict):
        raise HTTPError(f"{what} returned JSON that is not an object", status=status, request_id=request_id)
    return doc
