"""Mews incremental exports: ``Filters.UpdatedUtc`` windows from each entity's bookmark.

One bookmark per (platform, scope, entity type).  Each run asks, per entity,
for ``UpdatedUtc`` from the bookmark minus the overlap to now minus 5
minutes; a gap over 180 days becomes consecutive exports.  Mews refuses a
second export of an entity type while one is Pending or Processing, so the
windows run in *rounds*: round *k* holds the *k*-th window of every entity
and starts once round *k−1*'s exports are ready.

With a state store, the window and export id are saved the moment an export
is created; a rerun whose bookmark has not moved asks for that very window
again and resumes that very export instead of a new one (exactly-once in a
JSONL file too, not only in upserted tables).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from datetime import datetime
from urllib.parse import urlsplit

from streamer.errors import ConfigError
from streamer.incremental.bookmarks import BookmarkTracker, iso, parse_iso
from streamer.incremental.windows import DEFAULT_LAG, Incremental, Window, change_windows
from streamer.records import PartInfo

if TYPE_CHECKING:  # the Mews provider imports this module: its requests are imported on use
    from streamer.providers.mews.requests import ExportRequest

log = logging.getLogger("streamer.incremental")

REPLICATION_KEY = "UpdatedUtc"


@dataclass
class Round:
    """The exports one lifecycle drives: at most one window per entity type."""

    requests: list[ExportRequest]
    windows: dict[str, Window]
    known: dict[str, str]


class MewsIncremental:
    """Plans a MewsSource's windows and tells the tracker which parts make up each."""

    def __init__(self, options: Incremental, *, platform_url: str, access_token: str,
                 enterprise_ids: Sequence[str], chain_ids: Sequence[str]) -> None:
        self.options = options
        self.tracker = BookmarkTracker(REPLICATION_KEY, overlap=options.overlap)
        self.scope = _scope(access_token, enterprise_ids, chain_ids)
        self.platform = urlsplit(platform_url).netloc or platform_url
        self._current: Round | None = None
        self._entities: dict[str, str] = {}

    def key(self, entity_type: str) -> str:
        return f"mews/{self.platform}/{self.scope}/{entity_type}"

    def rounds(self, requests: Sequence[ExportRequest]) -> list[Round]:
        """Call after the tracker loaded its bookmarks (the engine does, before ``parts``)."""
        now = self.options.now()
        end = now - DEFAULT_LAG
        per_entity: dict[str, list[Window]] = {}
        known: dict[tuple[str, int], str] = {}
        for request in requests:
            if request.updated_from is not None or request.updated_to is not None:
                raise ConfigError("an incremental export sets UpdatedUtc itself: use since= (CLI: --since), "
                                  "not updated_from/updated_to")
            entity = request.entity_type
            key = self.key(entity)
            bookmark = self.tracker.value(key, entity)
            start = bookmark - self.options.overlap if bookmark is not None else self.options.since
            windows = self._windows(key, start, end, known, entity)
            if not windows:
                log.info("Mews %s: the bookmark %s is within 5 minutes of now; nothing to export yet",
                         entity, iso(bookmark) if bookmark else "-")
            per_entity[entity] = windows
            log.info("Mews %s: incremental from %s (bookmark %s)", entity,
                     iso(start) if start else "the beginning", iso(bookmark) if bookmark else "none yet")
        rounds = []
        for index in range(max((len(w) for w in per_entity.values()), default=0)):
            windows = {e: w[index] for e, w in per_entity.items() if index < len(w)}
            batch = []
            for request in requests:
                window = windows.get(request.entity_type)
                if window is None:
                    continue
                windowed = dataclasses.replace(request, updated_from=window[0],
                                               updated_to=window[1] if window[0] is not None else None,
                                               created_at=now)
                windowed.validate(now)
                batch.append(windowed)
            rounds.append(Round(batch, windows, {e: i for (e, r), i in known.items() if r == index}))
        return rounds

    def _windows(self, key: str, start: datetime | None, end: datetime,
                 known: dict[tuple[str, int], str], entity: str) -> list[Window]:
        from streamer.providers.mews.requests import MAX_UPDATED_SPAN

        saved = self.tracker.saved_window(key)
        if saved and saved.get("start") == (iso(start) if start else None):
            saved_end = parse_iso(saved["end"], key)
            if start is None or start < saved_end <= end:
                known[(entity, 0)] = str(saved["id"])  # resume the interrupted run's export
                log.info("Mews %s: resuming export %s of the interrupted window", entity, saved["id"])
                first: Window = (start, saved_end)
                if start is not None and saved_end - start >= MAX_UPDATED_SPAN:  # a split gap: go on
                    return [first, *change_windows(saved_end - self.options.overlap, end,
                                                   max_span=MAX_UPDATED_SPAN, overlap=self.options.overlap)]
                return [first]
        return change_windows(start, end, max_span=MAX_UPDATED_SPAN, overlap=self.options.overlap)

    def begin(self, round_: Round) -> None:
        self._current = round_
        self._entities = {export_id: entity for entity, export_id in round_.known.items()}

    def created(self, entity_type: str, export_id: str) -> None:
        """An export of the current round was created: save its window at once."""
        if self._current is None or entity_type not in self._current.windows:
            return
        self._entities[export_id] = entity_type
        start, end = self._current.windows[entity_type]
        self.tracker.remember_window(self.key(entity_type), iso(start) if start else None, iso(end), export_id)

    def expect(self, entity_type: str, export_id: str, parts: Sequence[PartInfo]) -> None:
        assert self._current is not None
        entity_type = self._entities.get(export_id, entity_type)  # what we asked for, not what getAll says
        _, end = self._current.windows[entity_type]
        self.tracker.expect(self.key(entity_type), entity_type, end, parts, export_id=export_id)


def _scope(access_token: str, enterprise_ids: Sequence[str], chain_ids: Sequence[str]) -> str:
    """Which records a bookmark covers: the scoped ids, or everything the token sees."""
    for kind, ids in (("enterprises", enterprise_ids), ("chains", chain_ids)):
        if ids:
            ordered = sorted(set(ids))
            if len(ordered) <= 3:
                return f"{kind}:{','.join(ordered)}"
            return f"{kind}#{hashlib.sha256(','.join(ordered).encode()).hexdigest()[:16]}"
    return f"token#{hashlib.sha256(access_token.encode()).hexdigest()[:12]}"
