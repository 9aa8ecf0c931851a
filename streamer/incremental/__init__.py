"""Incremental exports: only what changed since the last run, with a bookmark that never skips a record.

* :mod:`~streamer.incremental.windows` — the options (:class:`Incremental`)
  and the change windows (bookmark − overlap → now − 5 min, split by span);
* :mod:`~streamer.incremental.bookmarks` — the tracker that stamps a
  window's bookmark on the batch that completes it, so sinks commit it in
  that batch's transaction;
* :mod:`~streamer.incremental.repeats` — dropping the overlap's repeats;
* :mod:`~streamer.incremental.mews`, :mod:`~streamer.incremental.rebilly` —
  the vendors' change filters; :mod:`~streamer.incremental.storage` — the
  bookmark table of the database sinks.
"""

from streamer.incremental.bookmarks import BookmarkTracker
from streamer.providers.base import IncrementalSource
from streamer.sinks.base import BookmarkSink
from streamer.incremental.windows import Incremental

__all__ = ["BookmarkSink", "BookmarkTracker", "Incremental", "IncrementalSource"]
