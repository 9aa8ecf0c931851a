"""Change windows: from a bookmark (minus an overlap) to "now minus a lag", split by a maximum span.

Shared by every provider with a change filter (Mews ``Filters.UpdatedUtc``,
Rebilly ``dateRange`` on ``updatedTime``).  Consecutive windows overlap by
the same margin as a run overlaps its bookmark, so the start of window *k+1*
is exactly where a run killed after committing window *k* would start:
a rerun finds the saved export of that window and resumes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from streamer.errors import ConfigError

DEFAULT_OVERLAP = timedelta(minutes=5)
DEFAULT_LAG = timedelta(minutes=5)
"""How far in the past a window ends (Mews: "EndUtc at least 5 minutes in the past")."""


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Incremental:
    """``incremental=Incremental(overlap=timedelta(minutes=15))`` on a source (``True``: the defaults).

    The first run without a bookmark exports everything (or the changes
    since ``since``); every later run the changes since the bookmark minus
    ``overlap`` — a margin for changes the vendor stamps a little before it
    makes them visible.
    """

    overlap: timedelta = DEFAULT_OVERLAP
    since: datetime | None = None
    """Where the first run starts when there is no bookmark yet (default: a full export).

    A naive datetime (what ``--since 2026-11-01`` parses to) is taken as UTC:
    bookmarks and the vendors' filters are UTC, so comparing them needs an offset.
    """
    now: Callable[[], datetime] = utc_now
    """The clock windows end by (tests pass the simulator's)."""

    def __post_init__(self) -> None:
        if self.overlap < timedelta(0):
            raise ConfigError(f"the incremental overlap must not be negative (got {self.overlap})")
        if self.since is not None:
            object.__setattr__(self, "since", as_utc(self.since))


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive one is read as UTC (the only zone the vendors' change filters use)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def as_incremental(value: Incremental | bool | None) -> Incremental | None:
    if value is None or value is False:
        return None
    if value is True:
        return Incremental()
    if isinstance(value, Incremental):
        return value
    raise TypeError(f"incremental must be a bool or an Incremental, not {type(value).__name__}")


Window = tuple[datetime | None, datetime]
"""(start — ``None``: everything —, end) of one export's change filter."""


def change_windows(start: datetime | None, end: datetime, *, max_span: timedelta | None,
                   overlap: timedelta) -> list[Window]:
    """The windows covering ``[start, end]``, each at most ``max_span`` long, in order.

    Empty when ``start`` is not before ``end`` (a run again within the lag).
    """
    if start is None:
        return [(None, end)]
    if start >= end:
        return []
    windows: list[Window] = []
    if max_span is not None:
        if max_span <= overlap:
            raise ConfigError(f"the overlap {overlap} must be shorter than a window's maximum span {max_span}")
        while end - start > max_span:
            windows.append((start, start + max_span))
            start = start + max_span - overlap
    windows.append((start, end))
    return windows
