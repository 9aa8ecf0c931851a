"""``MewsSource``: Mews Connector exports as a stream of parts.

Each export's files are yielded as soon as that export reaches Success,
while the others are still polled, so downloads start early.  File URLs
live 10 minutes: every part carries ``url_ttl`` and a ``refresh`` callable
that asks ``exports/getAll`` for a freshly signed URL of the *same* file;
the engine calls it before a request once 80% of the lifetime passed and on
401/403/410 mid-download, then resumes with ``Range``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import date, datetime

import aiohttp
import anyio

import streamer.providers.mews.entities  # noqa: F401  (registers the typed entities)
from streamer.errors import ConfigError, ExportError, PartChangedError
from streamer.incremental.bookmarks import BookmarkTracker
from streamer.incremental.mews import MewsIncremental, Round
from streamer.incremental.windows import Incremental, as_incremental
from streamer.http.retry import RetryPolicy
from streamer.providers.mews.client import DEFAULT_CLIENT, MewsClient, MewsCredentials, RetryHook
from streamer.providers.mews.lifecycle import CreatedHook, ExportLifecycle, MewsExport, PollPolicy
from streamer.providers.mews.limiter import SlidingWindowLimiter
from streamer.providers.mews.requests import build_requests
from streamer.records import Part, PartInfo, UrlRefresher

URL_TTL = 600.0
"""Seconds a Mews file URL stays valid (documented: 10 minutes)."""
SHARE_FRACTION = 0.1
"""URLs from a getAll younger than this fraction of the TTL are shared with other
parts of the same export instead of asking again (the engine re-signs at 80%)."""


class MewsSource:
    """Creates Mews exports for ``entity_types`` and yields their JSONL parts.

    Validation (entity types, scope, filters) happens here, before any request.
    After a run, :attr:`created_exports` holds the ids this run created, for
    a caller to persist and pass back as ``known_exports`` next time.
    """

    name = "mews"

    def __init__(
        self,
        *,
        platform_url: str,
        client_token: str,
        access_token: str,
        entity_types: Sequence[str],
        client: str = DEFAULT_CLIENT,
        enterprise_ids: Sequence[str] = (),
        chain_ids: Sequence[str] = (),
        updated_from: datetime | None = None,
        updated_to: datetime | None = None,
        posting_from: date | None = None,
        posting_to: date | None = None,
        known_exports: Mapping[str, str] | None = None,
        poll: PollPolicy | None = None,
        url_ttl: float = URL_TTL,
        retry: RetryPolicy | None = None,
        limiter: SlidingWindowLimiter | None = None,
        on_export_created: CreatedHook | None = None,
        on_retry: RetryHook | None = None,
        incremental: Incremental | bool = False,
    ) -> None:
        if incremental and (updated_from is not None or updated_to is not None):
            # before build_requests: its span check would otherwise speak first about a range we refuse anyway
            raise ConfigError("an incremental export sets UpdatedUtc itself: use since= (CLI: --since), "
                              "not updated_from/updated_to")
        self.credentials = MewsCredentials(platform_url, client_token, access_token, client)
        self.requests = build_requests(
            entity_types,
            enterprise_ids=enterprise_ids,
            chain_ids=chain_ids,
            updated_from=updated_from,
            updated_to=updated_to,
            posting_from=posting_from,
            posting_to=posting_to,
        )
        self.known_exports = dict(known_exports or {})
        self.poll = poll or PollPolicy()
        if url_ttl <= 0:
            raise ValueError("url_ttl must be positive")
        self.url_ttl = url_ttl
        self.retry = retry or RetryPolicy()
        self.limiter = limiter
        self.on_export_created = on_export_created
        self.on_retry = on_retry
        self.lifecycle: ExportLifecycle | None = None
        """The lifecycle of the current (or last) run: ``created``, ``in_use``, ``polls``."""
        options = as_incremental(incremental)
        self.incremental = None if options is None else MewsIncremental(
            options, platform_url=platform_url, access_token=access_token,
            enterprise_ids=enterprise_ids, chain_ids=chain_ids,
        )
        """Changes since each entity's bookmark (see :mod:`streamer.incremental.mews`)."""
        self.bookmarks: BookmarkTracker | None = self.incremental.tracker if self.incremental else None

    @property
    def created_exports(self) -> dict[str, str]:
        """Entity type → export id created by the last run (empty before a run)."""
        return dict(self.lifecycle.created) if self.lifecycle else {}

    async def parts(self, session: aiohttp.ClientSession) -> AsyncIterator[Part]:
        client = MewsClient(
            self.credentials, session, retry=self.retry, limiter=self.limiter, on_retry=self.on_retry
        )
        incremental = self.incremental
        rounds = [Round(self.requests, {}, self.known_exports)] if incremental is None else incremental.rounds(self.requests)
        for round_ in rounds:  # one, unless incremental windows split a long gap
            async for part in self._round_parts(client, round_):
                yield part

    async def _round_parts(self, client: MewsClient, round_: Round) -> AsyncIterator[Part]:
        incremental = self.incremental
        on_created = self.on_export_created
        if incremental is not None:
            incremental.begin(round_)
            on_created = _chain(incremental.created, self.on_export_created)
        lifecycle = self.lifecycle = ExportLifecycle(
            client,
            round_.requests,
            policy=self.poll if incremental is None else dataclasses.replace(self.poll, reuse_known=True),
            known_exports=round_.known,
            on_created=on_created,
        )
        async for export in lifecycle.ready():
            refresher = _ExportRefresher(lifecycle, export, max_age=self.url_ttl * SHARE_FRACTION)
            count = len(export.files)
            infos = [
                PartInfo(
                    source=self.name,
                    index=index,
                    entity_type=export.entity_type,
                    export_id=export.id,
                    name=f"part {index + 1}/{count}",
                )
                for index in range(count)
            ]
            if incremental is not None:
                incremental.expect(export.entity_type, export.id, infos)
            for index, entry in enumerate(export.files):
                yield Part(
                    info=infos[index],
                    url=entry.url,
                    size=entry.size,
                    format="jsonl",
                    compression="auto",
                    refresh=refresher.for_file(index),
                    url_ttl=self.url_ttl,
                    url_issued_at=export.fetched_at,
                )


def _chain(first: CreatedHook, then: CreatedHook | None) -> CreatedHook:
    async def both(entity_type: str, export_id: str) -> None:
        first(entity_type, export_id)
        if then is not None:
            result = then(entity_type, export_id)
            if result is not None:
                await result

    return both


class _ExportRefresher:
    """Re-signs the file URLs of one export, one getAll for parts that ask together.

    URLs of the last getAll are shared while younger than ``max_age``.  A part
    never gets back the URL it already had: when the last getAll's URL for that
    file is the one the part is using (which the server may just have
    rejected), a new getAll is made, whatever the clocks say.
    """

    def __init__(self, lifecycle: ExportLifecycle, export: MewsExport, *, max_age: float) -> None:
        self._lifecycle = lifecycle
        self._export = export
        self._max_age = max_age
        self._lock = anyio.Lock()
        self._handed_out: dict[int, str] = {i: f.url for i, f in enumerate(export.files)}

    def for_file(self, index: int) -> UrlRefresher:
        async def refresh() -> str:
            return await self._refresh(index)

        return refresh

    async def _refresh(self, index: int) -> str:
        async with self._lock:
            current = self._export.files[index].url
            too_old = time.monotonic() - self._export.fetched_at > self._max_age
            if too_old or current == self._handed_out.get(index):
                fresh = await self._lifecycle.refresh(self._export.id)
                self._check_same_files(fresh)
                self._export = fresh
                current = fresh.files[index].url
            self._handed_out[index] = current
            return current

    def _check_same_files(self, fresh: MewsExport) -> None:
        old = self._export
        if len(fresh.files) != len(old.files):
            raise ExportError(
                f"Mews export {old.id} now lists {len(fresh.files)} files instead of {len(old.files)}"
            )
        for index, (before, after) in enumerate(zip(old.files, fresh.files)):
            if before.size is not None and after.size is not None and before.size != after.size:
                raise PartChangedError(
                    f"{old.entity_type} part {index + 1}/{len(old.files)} of export {old.id}",
                    f"SizeInBytes changed from {before.size} to {after.size} between two getAll calls",
                )

