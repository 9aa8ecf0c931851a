"""Walking Rebilly's export listing past its offset cap, keyset-style on ``createdTime``.

Rebilly's collection ``offset`` stops at 1000 (``collectionOffset``:
``maximum: 1000``), so offset paging alone reaches about the first
1000 + ``limit`` exports and no further.  The API offers the other way:
``sort=createdTime`` (an ``x-sortable`` field) plus a range filter
(``createdTime:A..B``, the filter syntax of ``amount:1..100`` in the spec).
When the next offset would pass the cap, the walk opens a new window that
starts at the last ``createdTime`` seen, offset 0.  Exports sharing that
instant appear again at the window's start: their ids are remembered and
skipped, so nothing is delivered twice and nothing is skipped.

The walk stops with a clear :class:`~streamer.errors.ExportError` instead
of truncating when it cannot go on safely: a caller's own ``sort`` on
another field or ``createdTime`` clause in the filter (no window can be
added), a server that does not sort as asked, or more than a window's
worth of exports created at the same instant.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from streamer.errors import ExportError, json_type
from streamer.providers.rebilly.catalog import LIMIT_MAX, OFFSET_MAX

KEY = "createdTime"
EARLIEST = "1970-01-01T00:00:00Z"
LATEST = "9999-12-31T23:59:59Z"
"""Bounds of the open end of a window (the spec shows only closed ranges)."""

FetchPage = Callable[[dict[str, str]], Awaitable[tuple[Mapping[str, str], Any]]]
"""One ``GET`` of the listing with these query parameters → (headers, JSON body)."""


def _has_key_clause(filter: str | None) -> bool:
    return bool(filter) and any(clause.partition(":")[0].strip() == KEY for clause in filter.split(";"))


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


async def walk_listing(
    fetch: FetchPage,
    *,
    filter: str | None = None,
    sort: str | None = None,
    limit: int = 100,
) -> AsyncIterator[dict[str, Any]]:
    """Every export of the listing, in ``createdTime`` order (or the caller's ``sort``)."""
    limit = max(1, min(limit, LIMIT_MAX))
    descending = sort == f"-{KEY}"
    keyset = sort in (None, KEY, f"-{KEY}") and not _has_key_clause(filter)
    if keyset:
        sort = sort or KEY
    bound: str | None = None  # createdTime where the current window starts
    skip: set[str] = set()  # ids at ``bound`` delivered by the previous window
    last_key: str | None = None
    at_last_key: set[str] = set()
    offset = 0
    delivered = 0
    while True:
        if offset > OFFSET_MAX:
            if not keyset:
                raise ExportError(
                    f"listing data exports: {delivered} delivered, but Rebilly caps offset at {OFFSET_MAX} and "
                    f"this listing (sort {sort!r}, filter {filter!r}) cannot be narrowed by {KEY}; "
                    f"drop the sort or the {KEY} clause, or split the listing with a narrower filter"
                )
            if last_key is None or last_key == bound:
                raise ExportError(
                    f"listing data exports: more than {OFFSET_MAX} exports share {KEY} {last_key!r}, so the "
                    f"listing cannot page past offset {OFFSET_MAX}; narrow it with a filter (e.g. status:completed)"
                )
            bound, skip, offset = last_key, set(at_last_key), 0
        params = {"limit": str(limit), "offset": str(offset)}
        window = None
        if bound is not None:
            window = f"{KEY}:{EARLIEST}..{bound}" if descending else f"{KEY}:{bound}..{LATEST}"
        combined = ";".join(p for p in (filter, window) if p)
        if combined:
            params["filter"] = combined
        if sort:
            params["sort"] = sort
        headers, page = await fetch(params)
        if not isinstance(page, list):
            raise ExportError(f"listing data exports: expected a JSON array, got {json_type(page)}")
        for item in page:
            item_id = str(item.get("id")) if isinstance(item, dict) else None
            if item_id is not None and item_id in skip:
                continue
            if keyset and isinstance(item, dict):
                key = item.get(KEY)
                if not isinstance(key, str):
                    raise ExportError(f"listing data exports: export {item_id} has no {KEY}, the key the walk pages by")
                if last_key is not None and key != last_key and (key < last_key) != descending:
                    raise ExportError(
                        f"listing data exports: Rebilly did not sort by {sort} as asked ({KEY} {key} after "
                        f"{last_key}); the listing cannot be paged past offset {OFFSET_MAX} safely"
                    )
                if key != last_key:
                    last_key, at_last_key = key, set()
                at_last_key.add(str(item_id))
            delivered += 1
            yield item
        total = _int_header(headers, "Pagination-Total")
        page_limit = _int_header(headers, "Pagination-Limit") or limit
        page_offset = _int_header(headers, "Pagination-Offset")
        offset = (page_offset if page_offset is not None else offset) + len(page)
        if not page or (total is not None and offset >= total) or (total is None and len(page) < page_limit):
            return
