"""The Rebilly data-export endpoints this provider uses, with retries and problem errors.

Paths (relative to ``{base}/organizations/{organizationId}``), as in Rebilly's
OpenAPI (``openapi/openapi.yaml`` mounts data exports under ``/experimental``;
``prefix`` makes that configurable):

* ``POST {prefix}`` → 201 + ``Location`` — request an export;
* ``GET {prefix}/{id}?expand=file`` — its status, ``recordCount``, ``_links``,
  ``fileId`` and ``_embedded.file``;
* ``GET {prefix}?limit&offset&filter&sort`` — a page of exports, with
  ``Pagination-Total``/``-Limit``/``-Offset`` headers (``offset`` ≤ 1000:
  :mod:`~streamer.providers.rebilly.listing` pages past it by ``createdTime``);
* ``GET /files/{id}/download`` — the file, or a 302 to a signed URL.

API responses are small JSON documents: they are read whole, and requested
with ``Accept-Encoding: identity`` because the run's session leaves bodies
compressed (the engine does its own gunzip for data files).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urljoin

import aiohttp
import orjson

from streamer.errors import ExportError, HTTPError, RetryableHTTPError, json_type
from streamer.http.redact import redact_url
from streamer.http.retry import TRANSIENT_ERRORS, RetryPolicy
from streamer.providers.rebilly.auth import RebillyAuth
from streamer.providers.rebilly.listing import walk_listing
from streamer.providers.rebilly.problems import raise_for_problem

log = logging.getLogger("streamer.rebilly")

SANDBOX_URL = "https://api-sandbox.rebilly.com"
LIVE_URL = "https://api.rebilly.com"
DEFAULT_PREFIX = "/experimental/data-exports"
REDIRECTS = frozenset({301, 302, 303, 307, 308})
POST_RETRY_STATUSES = frozenset({429, 503})
"""A POST is retried only when the server certainly did not act on it."""


class RebillyApi:
    """One organization's data-export API on one session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        organization_id: str,
        auth: RebillyAuth,
        prefix: str = DEFAULT_PREFIX,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._session = session
        self.root = f"{base_url.rstrip('/')}/organizations/{organization_id}"
        self.exports_url = self.root + "/" + prefix.strip("/")
        self._auth = auth
        self._retry = retry or RetryPolicy()

    @property
    def headers(self) -> dict[str, str]:
        return {**self._auth.headers(), "Accept": "application/json", "Accept-Encoding": "identity"}

    def export_url(self, export_id: str) -> str:
        return f"{self.exports_url}/{export_id}"

    def file_download_url(self, file_id: str) -> str:
        return f"{self.root}/files/{file_id}/download"

    # ------------------------------------------------------------ exports

    async def create_export(self, body: Mapping[str, Any]) -> dict[str, Any]:
        status, headers, doc = await self._json("POST", self.exports_url, what="create data export", body=body)
        if not isinstance(doc, dict):
            doc = {}
        if not doc.get("id") and headers.get("Location"):
            doc["id"] = headers["Location"].rstrip("/").rsplit("/", 1)[-1]
        if not doc.get("id"):
            raise ExportError("Rebilly accepted the data export but returned neither an id nor a Location")
        return doc

    async def get_export(self, export_id: str) -> dict[str, Any]:
        """The export, with its file embedded (``expand=file``: one of the spec's two places for its id)."""
        _, _, doc = await self._json(
            "GET", self.export_url(export_id), what=f"get data export {export_id}", params={"expand": "file"}
        )
        if not isinstance(doc, dict):
            raise ExportError(f"Rebilly data export {export_id}: expected a JSON object, got {json_type(doc)}")
        return doc

    def list_exports(
        self,
        *,
        filter: str | None = None,
        sort: str | None = None,
        limit: int = 100,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every export, page by page, past the offset cap (see :mod:`streamer.providers.rebilly.listing`)."""

        async def fetch(params: dict[str, str]) -> tuple[Mapping[str, str], Any]:
            what = f"list data exports (offset {params['offset']}, filter {params.get('filter')!r})"
            _, headers, page = await self._json("GET", self.exports_url, what=what, params=params)
            return headers, page

        return walk_listing(fetch, filter=filter, sort=sort, limit=limit)

    # -------------------------------------------------------------- files

    async def resolve_download(self, url: str) -> tuple[str, dict[str, str]]:
        """The URL to stream a file from, and the headers it needs.

        ``GET /files/{id}/download`` may answer with the bytes or with a 302 to
        a signed URL.  The redirect is followed here, not by aiohttp, so that
        the API key never travels to the storage host; a signed URL needs no
        headers, a 200 means the API URL itself is streamed with the key.
        """
        return await self._retry.retrying(retry_on=TRANSIENT_ERRORS)(self._resolve_once, url)

    async def _resolve_once(self, url: str) -> tuple[str, dict[str, str]]:
        async with self._session.get(url, headers=self.headers, allow_redirects=False) as response:
            if response.status in REDIRECTS and response.headers.get("Location"):
                target = urljoin(str(response.url), response.headers["Location"])
                log.debug("file download redirects to %s", redact_url(target))
                return target, {}
            await raise_for_problem(response, what=f"download file {redact_url(url)}")
            response.close()  # the engine streams it itself, resumably
            return url, self._auth.headers()

    # ------------------------------------------------------------ plumbing

    async def _json(
        self,
        method: str,
        url: str,
        *,
        what: str,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> tuple[int, Mapping[str, str], Any]:
        data = orjson.dumps(body) if body is not None else None
        headers = self.headers
        if data is not None:
            headers["Content-Type"] = "application/json"
        # A POST that may have reached Rebilly (a dropped connection, a 502) is not repeated:
        # it would create a second export.
        retry_on = (RetryableHTTPError,) if method == "POST" else TRANSIENT_ERRORS
        retrying = self._retry.retrying(retry_on=retry_on)
        return await retrying(self._json_once, method, url, what, headers, data, params)

    async def _json_once(
        self, method: str, url: str, what: str, headers: dict[str, str], data: bytes | None,
        params: Mapping[str, str] | None,
    ) -> tuple[int, Mapping[str, str], Any]:
        async with self._session.request(method, url, headers=headers, data=data, params=params) as response:
            try:
                await raise_for_problem(response, what=what)
            except RetryableHTTPError as exc:
                if method == "POST" and exc.status not in POST_RETRY_STATUSES:
                    raise _final(exc) from exc
                raise
            raw = await response.read()
            try:
                doc = orjson.loads(raw) if raw else None
            except orjson.JSONDecodeError as exc:
                raise ExportError(f"{what}: the response is not JSON ({exc})") from None
            return response.status, response.headers, doc


def _final(exc: RetryableHTTPError) -> HTTPError:
    """The same error, but not retried (a POST that the server may have acted on)."""
    error = HTTPError(str(exc))
    error.status, error.request_id, error.url, error.details = exc.status, exc.request_id, exc.url, exc.details
    return error

