"""Dropping what an overlap window repeats: the ``(Id, version)`` pairs already delivered.

A run starts at the bookmark minus the overlap, so the records changed in
the last ``overlap`` before the bookmark come again, unchanged.  Tables
absorb them (upsert by Id); an append-only output (JSONL, Singer, ``dir``)
would hold them twice.  So each bookmark carries the ``(Id, UpdatedUtc)``
pairs delivered within ``overlap`` of its value (``"delivered"``, at most
:data:`MAX_REMEMBERED` of them), and the next run drops a record whose pair
is among them — a *newer* version of the same Id always passes.

Only key fields are decoded (msgspec skips the rest of the line).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from streamer.records import Record

MAX_REMEMBERED = 50_000
"""More pairs than this in one overlap: none are kept (those records may repeat; tables still dedupe)."""

Pair = tuple[str, str]


class RepeatFilter:
    """Remembers delivered ``(Id, version)`` pairs per bookmark key and drops repeats."""

    def __init__(self, replication_key: str) -> None:
        self.replication_key = replication_key
        self._keys = msgspec.json.Decoder(
            msgspec.defstruct("Keys", [("Id", Any, None), ("id", Any, None), (replication_key, Any, None)])
        ).decode
        self._seen: dict[str, set[Pair]] = {}
        self.dropped = 0
        """Records dropped as repeats of an earlier delivery (this run)."""

    def load(self, key: str, pairs: Iterable[Any]) -> None:
        self._seen.setdefault(key, set()).update((str(p[0]), str(p[1])) for p in pairs)

    def pair(self, record: Record) -> Pair | None:
        if record.value is None and record.raw is not None:
            try:
                keys = self._keys(record.raw)
            except msgspec.ValidationError:
                return None
            ident, alt, version = keys.Id, keys.id, getattr(keys, self.replication_key)
        elif isinstance(record.value, dict):
            data = record.value
            ident, alt, version = data.get("Id"), data.get("id"), data.get(self.replication_key)
        else:
            return None
        ident = ident if ident is not None else alt
        if ident is None or version is None:
            return None
        return str(ident), str(version)

    def keep(self, key: str, records: list[Record], tail_from: str) -> list[Record]:
        """``records`` without repeats; remembers the pairs at or after ``tail_from`` (the overlap)."""
        seen = self._seen.setdefault(key, set())
        kept = []
        for record in records:
            pair = self.pair(record)
            if pair is not None:
                if pair in seen:
                    self.dropped += 1
                    continue
                if pair[1] >= tail_from:
                    seen.add(pair)
            kept.append(record)
        return kept

    def delivered(self, key: str, tail_from: str) -> list[list[str]] | None:
        """The pairs to keep with a bookmark: those within the overlap before it."""
        pairs = sorted(p for p in self._seen.get(key, ()) if p[1] >= tail_from)
        return [list(p) for p in pairs] if len(pairs) <= MAX_REMEMBERED else None
