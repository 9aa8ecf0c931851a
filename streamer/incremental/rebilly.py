"""Rebilly incremental exports: one ``dateRange {field: updatedTime, start, end}`` per run.

One bookmark per (organization, resource).  The window runs from the
bookmark minus the overlap to now minus the lag (Rebilly documents no
maximum span, so it is never split); the first run without a bookmark is a
full export (no ``dateRange``) or starts at ``since``.  As for Mews, a state
store keeps the window and export id of an interrupted run, and a rerun
whose bookmark has not moved streams that same export again.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from streamer.errors import ConfigError
from streamer.incremental.bookmarks import BookmarkTracker, iso, parse_iso
from streamer.incremental.windows import DEFAULT_LAG, Incremental, Window, change_windows
from streamer.records import PartInfo

log = logging.getLogger("streamer.incremental")

REPLICATION_KEY = "updatedTime"


class RebillyIncremental:
    """Plans a RebillySource's window and tells the tracker which part makes it up."""

    def __init__(self, options: Incremental, *, organization_id: str, resource: str) -> None:
        self.options = options
        self.tracker = BookmarkTracker(REPLICATION_KEY, overlap=options.overlap)
        self.key = f"rebilly/{organization_id}/{resource}"
        self.stream = resource
        self.window: Window | None = None
        self.resume_id: str | None = None

    def plan(self, request: object) -> object | None:
        """The request with this run's ``dateRange`` (``None``: nothing to export yet).

        Call after the tracker loaded its bookmarks (the engine does, before ``parts``).
        """
        from streamer.providers.rebilly.source import DateRange  # the provider imports this module

        if getattr(request, "date_range", None) is not None:
            raise ConfigError("an incremental Rebilly export sets dateRange itself: use since= (CLI: --since), "
                              "not --date-start/--date-end")
        bookmark = self.tracker.value(self.key, self.stream)
        start = bookmark - self.options.overlap if bookmark is not None else self.options.since
        end = self.options.now() - DEFAULT_LAG
        saved = self.tracker.saved_window(self.key)
        if saved and saved.get("start") == (iso(start) if start else None):
            end = parse_iso(saved["end"], self.key)
            self.resume_id = str(saved["id"])
            log.info("Rebilly %s: resuming export %s of the interrupted window", self.stream, self.resume_id)
        windows = change_windows(start, end, max_span=None, overlap=self.options.overlap)
        if not windows:
            return None
        self.window = windows[0]
        if start is None:
            return request
        return dataclasses.replace(request, date_range=DateRange(iso(start), iso(end), REPLICATION_KEY))  # type: ignore[type-var]

    def created(self, export_id: str) -> None:
        assert self.window is not None
        start, end = self.window
        self.tracker.remember_window(self.key, iso(start) if start else None, iso(end), export_id)

    def expect(self, export_id: str, parts: Sequence[PartInfo]) -> None:
        assert self.window is not None
        self.tracker.expect(self.key, self.stream, self.window[1], parts, export_id=export_id)


