"""Records that change over time, on a simulated clock: what incremental exports are tested against.

:class:`ChangingRecords` holds the current version of every record of one
entity type.  Each simulated hour (:meth:`ChangingRecords.advance`) a seeded
fraction of them get a newer ``UpdatedUtc`` inside that hour and new field
values, and new records appear; :meth:`ChangingRecords.update` changes given
records *now* (e.g. while a run is streaming).  An export is a snapshot taken
when it is created — the versions whose ``UpdatedUtc`` lies in its filter —
served by :class:`SnapshotContent` through the simulator's file handler
(``Range``, ``If-Range``, gzip) like generated parts.

:class:`SimClock` is real UTC time plus an offset the test moves; the Mews
API checks ``Filters.UpdatedUtc`` against it, and a client under test uses
it as its clock (``Incremental(now=clock.now)``).
"""

from __future__ import annotations

import gzip
import itertools
import random
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

from streamer.simulator.records import BUILDERS, CURRENCIES, order_item

_tags = itertools.count(1)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class SimClock:
    """``now()`` is the wall clock shifted by what :meth:`advance` added."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


class ChangingRecords:
    """The current versions of one entity type's records (seeded, reproducible)."""

    def __init__(
        self,
        entity_type: str,
        *,
        records: int,
        clock: SimClock,
        seed: int = 0,
        enterprises: Sequence[str] = ("3fa85f64-5717-4562-b3fc-2c963f66afa6",),
        history: timedelta = timedelta(days=30),
        change_fraction: float = 0.05,
        new_per_hour: int = 5,
        builder: Callable[[random.Random], dict[str, Any]] | None = None,
        fields: tuple[str, str, str] = ("Id", "CreatedUtc", "UpdatedUtc"),
    ) -> None:
        self.entity_type = entity_type
        self.id_field, self.created_field, self.updated_field = fields
        """Names of the id, creation and change time fields (Mews: ``Id``, ``CreatedUtc``, ``UpdatedUtc``)."""
        self._make = builder
        self.clock = clock
        self.enterprises = list(enterprises)
        self.change_fraction = change_fraction
        self.new_per_hour = new_per_hour
        self._builder = BUILDERS.get(entity_type, order_item)
        self._rng = random.Random(f"changes/{seed}/{entity_type}")
        self._chain = str(uuid.UUID(int=random.Random(seed).getrandbits(128), version=4))
        self.current: dict[str, dict[str, Any]] = {}
        """Id → the record's latest version."""
        self.versions: dict[str, int] = {}
        """Id → how many versions the record has had (1 for a record never changed)."""
        now = clock.now()
        oldest = now - history
        span = (history - timedelta(hours=1)).total_seconds()
        for _ in range(records):
            self._create(oldest + timedelta(seconds=self._rng.uniform(0, span)))

    # ------------------------------------------------------------- changes

    def advance(self, hours: int = 1) -> list[str]:
        """Let ``hours`` simulated hours pass; return the Ids changed or created, in order."""
        touched: list[str] = []
        for _ in range(hours):
            start = self.clock.now()
            self.clock.advance(timedelta(hours=1))
            ids = sorted(self.current)
            count = round(len(ids) * self.change_fraction)
            for record_id in self._rng.sample(ids, count):
                self._change(record_id, start + timedelta(seconds=self._rng.uniform(1, 3600)))
                touched.append(record_id)
            for _ in range(self.new_per_hour):
                touched.append(self._create(start + timedelta(seconds=self._rng.uniform(1, 3600))))
        return touched

    def update(self, ids: Sequence[str], at: datetime | None = None) -> None:
        """Change these records now (or at ``at``): a newer ``UpdatedUtc`` and new values."""
        for record_id in ids:
            self._change(record_id, at or self.clock.now())

    def _body(self, enterprise: str) -> dict[str, Any]:
        if self._make is not None:
            return self._make(self._rng)
        ctx = {"enterprise": enterprise, "chain": self._chain, "service": str(uuid.UUID(int=self._rng.getrandbits(128))),
               "currency": self._rng.choice(CURRENCIES)}
        return self._builder(self._rng, ctx)

    def _create(self, moment: datetime) -> str:
        record_id = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        body = self._body(self._rng.choice(self.enterprises))
        stamp = _stamp(moment)
        self.current[record_id] = {**body, self.id_field: record_id, self.created_field: stamp,
                                   self.updated_field: stamp}
        self.versions[record_id] = 1
        return record_id

    def _change(self, record_id: str, moment: datetime) -> None:
        old = self.current[record_id]
        body = self._body(old.get("EnterpriseId") or self._rng.choice(self.enterprises))
        for kept in ("EnterpriseId", "ChainId", self.created_field):
            if kept in old:
                body[kept] = old[kept]
        self.current[record_id] = {**body, self.id_field: record_id, self.updated_field: _stamp(moment)}
        self.versions[record_id] += 1

    # ----------------------------------------------------------- snapshots

    def select(self, start: datetime | None, end: datetime | None,
               enterprises: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """The current versions changed in ``[start, end]`` (in scope), oldest change first."""
        low = _stamp(start) if start else ""
        high = _stamp(end) if end else "~"
        scope = set(enterprises) if enterprises else None
        updated = self.updated_field
        chosen = [
            r for r in self.current.values()
            if low <= r[updated] <= high and (scope is None or r.get("EnterpriseId") in scope)
        ]
        chosen.sort(key=lambda r: (r[updated], r[self.id_field]))
        return chosen

    def snapshot(self, start: datetime | None, end: datetime | None,
                 enterprises: Sequence[str] | None = None) -> list[bytes]:
        """:meth:`select` as JSONL lines."""
        return [orjson.dumps(r) for r in self.select(start, end, enterprises)]


class SnapshotContent:
    """One export file made of given lines: the interface of :class:`~streamer.simulator.content.PartContent`."""

    def __init__(self, entity_type: str, lines: Sequence[bytes], part_index: int) -> None:
        self.entity_type = entity_type
        self.part_index = part_index
        self.export_tag = next(_tags)
        self.records = len(lines)
        self._ids = [orjson.loads(line)["Id"] for line in lines]
        self.data = b"".join(line + b"\n" for line in lines)
        self.size = len(self.data)
        self._gzip: bytes | None = None

    def ids(self) -> Iterator[str]:
        return iter(self._ids)

    @property
    def good_records(self) -> int:
        return self.records

    def iter_plain(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        end = self.size if end is None else min(end, self.size)
        step = 64 * 1024
        for pos in range(start, end, step):
            yield self.data[pos : min(pos + step, end)]

    @property
    def gzip_data(self) -> bytes:
        if self._gzip is None:
            self._gzip = gzip.compress(self.data, compresslevel=1, mtime=0)
        return self._gzip

    @property
    def gzip_size(self) -> int:
        return len(self.gzip_data)

    def iter_gzip(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        data = self.gzip_data
        end = len(data) if end is None else min(end, len(data))
        if end > start:
            yield data[start:end]


def split_parts(entity_type: str, lines: Sequence[bytes], parts: int) -> list[SnapshotContent]:
    """``lines`` spread evenly over ``parts`` files (none at all for an empty snapshot)."""
    if not lines:
        return []
    parts = max(1, min(parts, len(lines)))
    per_part, extra = divmod(len(lines), parts)
    files, first = [], 0
    for index in range(parts):
        count = per_part + (1 if index < extra else 0)
        files.append(SnapshotContent(entity_type, lines[first : first + count], index))
        first += count
    return files
