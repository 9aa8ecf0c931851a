"""One export file, generated on demand: any byte range, plain or gzip, in O(range).

The file is a sequence of blocks of ``TEMPLATES_PER_PART`` records.  Block *b*
lays the part's templates out in the permutation ``(37·j + 11·b) mod 64`` —
different from block to block, yet every full block has the same length.  So
the byte offset of any record is arithmetic, a 4 GB part costs nothing until
it is read, and a ``Range`` request starts generating at the right block.

The gzip form is a multi-member gzip file: one member per 16 blocks,
compressed deterministically (``mtime=0``), so it too can be served from any
byte offset once its member index has been computed.

A change filter (``updated``: an ``UpdatedUtc`` window) keeps only the
templates stamped inside it: the file is the unfiltered one minus the lines
outside the window, with the same Ids, and every full block still has one
length — filtering costs nothing per record.
"""

from __future__ import annotations

import bisect
import gzip
import threading
from collections.abc import Iterator
from datetime import datetime, timezone

import orjson

from streamer.simulator.records import ID_PLACEHOLDER, TEMPLATES_PER_PART, build_templates

ID_OFFSET = len(b'{"Id":"')
ID_LENGTH = len(ID_PLACEHOLDER.format(0))
BLOCKS_PER_MEMBER = 16


class PartContent:
    """The bytes of part ``part_index`` of an export: ``records`` JSONL records."""

    def __init__(
        self,
        *,
        entity_type: str,
        records: int,
        part_index: int,
        export_tag: int,
        seed: int = 0,
        enterprises: list[str] | None = None,
        corrupt: frozenset[int] = frozenset(),
        bom: bool = False,
        crlf: bool = False,
        updated: tuple[datetime, datetime] | None = None,
        updated_field: str = "UpdatedUtc",
    ) -> None:
        self.entity_type = entity_type
        self.updated = updated
        """The change filter the records were selected by (``None``: all of them)."""
        self.records = records
        self.part_index = part_index
        self.export_tag = export_tag
        self.corrupt = corrupt
        self.bom = b"\xef\xbb\xbf" if bom else b""
        eol = b"\r\n" if crlf else b"\n"
        templates = build_templates(
            entity_type, seed, part_index, enterprises or ["3fa85f64-5717-4562-b3fc-2c963f66afa6"]
        )
        head = f"{export_tag:08x}-{part_index:04x}-4000-8000-".encode()
        self._prefix = b'{"Id":"' + head
        self._suffixes = [t[ID_OFFSET + ID_LENGTH :] + eol for t in templates]
        self._lengths = [len(self._prefix) + 12 + len(s) for s in self._suffixes]
        self._kept = [True] * TEMPLATES_PER_PART if updated is None else _in_window(templates, updated, updated_field)
        self.block_records = TEMPLATES_PER_PART
        self.block_bytes = sum(length for length, kept in zip(self._lengths, self._kept) if kept)
        full, rest = divmod(records, self.block_records)
        tail = [self._template(full, j) for j in range(rest)]
        self.size = len(self.bom) + full * self.block_bytes + sum(self._lengths[t] for t in tail if self._kept[t])
        self._kept_records = full * sum(self._kept) + sum(self._kept[t] for t in tail)
        self._gzip_index: list[int] | None = None
        self._gzip_lock = threading.Lock()

    # ------------------------------------------------------------ identity

    def record_id(self, i: int) -> str:
        return f"{self.export_tag:08x}-{self.part_index:04x}-4000-8000-{i:012x}"

    def ids(self) -> Iterator[str]:
        """Ids of the well-formed records, in file order."""
        for i in range(self.records):
            if i not in self.corrupt and self._kept_index(i):
                yield self.record_id(i)

    def _kept_index(self, i: int) -> bool:
        block, j = divmod(i, self.block_records)
        return self._kept[self._template(block, j)]

    @property
    def good_records(self) -> int:
        return self._kept_records - sum(1 for i in self.corrupt if i < self.records and self._kept_index(i))

    @staticmethod
    def _template(block: int, j: int) -> int:
        return (37 * j + 11 * block) % TEMPLATES_PER_PART

    def block(self, b: int) -> bytes:
        first = b * self.block_records
        count = min(self.block_records, self.records - first)
        prefix, suffixes, kept = self._prefix, self._suffixes, self._kept
        pieces = []
        for j in range(count):
            i = first + j
            t = self._template(b, j)
            if not kept[t]:
                continue
            suffix = suffixes[t]
            if i in self.corrupt:
                length = len(prefix) + 12 + len(suffix)
                pieces.append(b'{"Id": <corrupt' + b"~" * (length - 16) + b"\n")
            else:
                pieces.append(prefix + b"%012x" % i + suffix)
        return b"".join(pieces)

    @property
    def blocks(self) -> int:
        return -(-self.records // self.block_records)

    def iter_plain(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Bytes ``[start, end)`` of the JSONL file, one block at a time."""
        end = self.size if end is None else min(end, self.size)
        if start < len(self.bom):
            yield self.bom[start:end]
            start = len(self.bom)
        if not self.block_bytes:  # a change filter that kept nothing
            return
        body_start = start - len(self.bom)
        b = body_start // self.block_bytes
        pos = len(self.bom) + b * self.block_bytes
        while pos < end and b < self.blocks:
            data = self.block(b)
            lo, hi = max(start - pos, 0), min(end - pos, len(data))
            if hi > lo:
                yield data if (lo, hi) == (0, len(data)) else data[lo:hi]
            pos += len(data)
            b += 1

    # ----------------------------------------------------------------- gzip

    def _member(self, m: int) -> bytes:
        first = m * BLOCKS_PER_MEMBER
        raw = b"".join(self.block(b) for b in range(first, min(first + BLOCKS_PER_MEMBER, self.blocks)))
        if m == 0:
            raw = self.bom + raw
        return gzip.compress(raw, compresslevel=1, mtime=0)

    @property
    def members(self) -> int:
        return max(1, -(-self.blocks // BLOCKS_PER_MEMBER))

    def gzip_index(self) -> list[int]:
        """Start offset of every gzip member, plus the total size (computed once)."""
        with self._gzip_lock:
            if self._gzip_index is None:
                offsets = [0]
                for m in range(self.members):
                    offsets.append(offsets[-1] + len(self._member(m)))
                self._gzip_index = offsets
            return self._gzip_index

    @property
    def gzip_size(self) -> int:
        return self.gzip_index()[-1]

    def iter_gzip(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        index = self.gzip_index()
        end = index[-1] if end is None else min(end, index[-1])
        m = max(0, bisect.bisect_right(index, start) - 1)
        while m < self.members and index[m] < end:
            data = self._member(m)
            lo, hi = max(start - index[m], 0), min(end - index[m], len(data))
            if hi > lo:
                yield data[lo:hi]
            m += 1


def _in_window(templates: list[bytes], window: tuple[datetime, datetime], field: str) -> list[bool]:
    """Which templates' change time lies in ``[start, end]`` (both compared in UTC, to the second)."""
    low, high = (moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") for moment in window)
    return [low <= str(orjson.loads(template).get(field, "")) <= high for template in templates]
