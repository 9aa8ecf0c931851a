"""LogiSense JWT login: the ``password`` grant (user or client secret), refreshed before it expires.

LogiSense's token docs ("Option 2") log a client in with its secret through
the same ``grant_type=password`` as a user, sending ``client_id`` and
``client_secret`` instead of ``username``/``password`` — not OAuth's
``client_credentials``, which the service does not accept.

The authorization server is a separate application from the resource server
(``/AuthorizationServer/api/v10/Access/Login``), form-encoded like OAuth 2.
A token lasts ``expires_in`` seconds (1800 by the docs) and comes with a
refresh token: :meth:`LogisenseAuth.token` refreshes ahead of expiry, and
:meth:`LogisenseAuth.invalidate` after a 401 (once per token), falling back to
a full login when the refresh token is refused.  Every credential and token is
registered with :func:`~streamer.http.redact.register_secret`.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import anyio
import orjson

from streamer.errors import ConfigError, HTTPError
from streamer.http.redact import register_secret
from streamer.http.responses import raise_for_response
from streamer.http.retry import RetryPolicy

log = logging.getLogger("streamer.logisense")

LOGIN_PATH = "/AuthorizationServer/api/v10/Access/Login"


def login_url_for(auth_url: str | None, base_url: str) -> str:
    """The login endpoint: ``auth_url`` as given if it names it, else under its host.

    Without ``auth_url`` the resource server's scheme and host are used,
    which is how LogiSense tenants are laid out.
    """
    if auth_url and auth_url.rstrip("/").endswith("Access/Login"):
        return auth_url.rstrip("/")
    parts = urlsplit(auth_url or base_url)
    if not parts.scheme or not parts.netloc:
        raise ConfigError(f"LogiSense auth URL must be absolute, not {auth_url or base_url!r}")
    prefix = parts.path.rstrip("/") if auth_url else ""
    return urlunsplit((parts.scheme, parts.netloc, prefix + LOGIN_PATH, "", ""))


class LogisenseAuth:
    """Holds the current bearer token of one tenant and keeps it valid."""

    def __init__(
        self,
        login_url: str,
        *,
        client_id: str,
        username: str | None = None,
        password: str | None = None,
        client_secret: str | None = None,
        refresh_margin: float = 60.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        if not client_id:
            raise ConfigError("LogiSense login needs a client_id")
        if not (username and password) and not client_secret:
            raise ConfigError("LogiSense login needs username and password, or a client_secret")
        self.login_url = login_url
        self.client_id = client_id
        self.username = username
        self._password = password
        self._client_secret = client_secret
        self.refresh_margin = refresh_margin
        self._retry = retry or RetryPolicy()
        for secret in (password, client_secret):
            register_secret(secret)
        self._access: str | None = None
        self._refresh: str | None = None
        self._expires_at = 0.0
        self._lock = anyio.Lock()

    grant = "password"
    """The one grant LogiSense documents for both ways of logging in."""

    @property
    def credential(self) -> str:
        """Which documented login this is: ``user`` (username/password) or ``client secret``."""
        return "user" if self.username and self._password else "client secret"

    async def token(self, session: aiohttp.ClientSession) -> str:
        """A token valid for at least ``refresh_margin`` more seconds (or a fraction of a short one)."""
        async with self._lock:
            if self._access is None:
                await self._login(session)
            elif time.monotonic() >= self._expires_at:
                await self._refresh_or_login(session)
            assert self._access is not None
            return self._access

    async def invalidate(self, session: aiohttp.ClientSession, rejected: str) -> None:
        """The server answered 401 to ``rejected``: refresh, unless another call already did."""
        async with self._lock:
            if self._access == rejected:
                log.info("LogiSense token rejected (401); refreshing it")
                await self._refresh_or_login(session)

    # ----------------------------------------------------------------- grants

    async def _login(self, session: aiohttp.ClientSession) -> None:
        form = {"grant_type": self.grant, "client_id": self.client_id}
        if self.credential == "user":
            form.update(username=self.username or "", password=self._password or "")
        else:
            form["client_secret"] = self._client_secret or ""
        await self._request_token(session, form, "login")

    async def _refresh_or_login(self, session: aiohttp.ClientSession) -> None:
        if self._refresh:
            form = {"grant_type": "refresh_token", "refresh_token": self._refresh, "client_id": self.client_id}
            if self._client_secret:
                form["client_secret"] = self._client_secret
            try:
                await self._request_token(session, form, "token refresh")
                return
            except HTTPError as exc:
                if exc.status is None or exc.status >= 500:
                    raise
                log.info("LogiSense refresh token refused (%s); logging in again", exc.status)
        await self._login(session)

    async def _request_token(self, session: aiohttp.ClientSession, form: dict[str, str], what: str) -> None:
        async for attempt in self._retry.retrying():
            with attempt:
                async with session.post(self.login_url, data=form, headers={"Accept": "application/json"}) as resp:
                    await raise_for_response(resp, what=f"LogiSense {what} ({self.grant} grant)")
                    body = await resp.read()
        try:
            doc = orjson.loads(body)
            access = doc["access_token"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise HTTPError(f"LogiSense {what}: the answer holds no access_token", url=self.login_url) from None
        expires_in = float(doc.get("expires_in") or 1800)
        register_secret(access)
        register_secret(doc.get("refresh_token"))
        self._access = access
        self._refresh = doc.get("refresh_token") or self._refresh
        # Refresh ahead: refresh_margin seconds early, but never later than 90% of a short lifetime.
        margin = min(self.refresh_margin, expires_in * 0.1)
        self._expires_at = time.monotonic() + expires_in - margin
