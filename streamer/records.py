"""Records, parts and batches: the values that flow through the engine.

A record is the decoded data of one line (or CSV row) plus *where it came
from*.  The "where" lives on a shared :class:`PartInfo` so that the per-record
cost is one small slotted object: four pointer slots, no dict, no copy of the
part metadata.  The record's data is the dict orjson produced, untouched, so
fields a vendor adds tomorrow are never dropped.  Typed views (msgspec Structs)
are built on demand by :meth:`Record.typed`, never on the hot path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
import orjson

from streamer.errors import DecodeError

Format = str
"""A format name of the decoder registry (:data:`streamer.decoding.base.BUILTIN_FORMATS`, or registered)."""
Compression = Literal["auto", "gzip", "none"]


@dataclass(frozen=True, slots=True)
class PartInfo:
    """Identity of one downloadable file of an export, shared by its records."""

    source: str
    """Provider name, e.g. ``"mews"`` or ``"urls"``."""
    index: int
    """Position of the part in the run (0-based); ordered mode follows it."""
    entity_type: str | None = None
    export_id: str | None = None
    name: str = ""
    """Human-readable label used in errors and progress, never a signed URL."""
    group: str | None = None
    """Identifies the run's set of parts when there is no export id (e.g. a
    digest of a URL list), so that checkpoints of different runs never match."""
    schema: str | None = None
    """``vendor:Entity`` whose schema the records follow, when not the source's own (``urls``)."""

    @property
    def key(self) -> str:
        """Stable checkpoint key: survives URL refreshes and process restarts."""
        return f"{self.source}/{self.export_id or self.group or '-'}/{self.index}"

    def describe(self) -> str:
        label = self.name or f"part {self.index}"
        if self.entity_type:
            label = f"{self.entity_type} {label}"
        if self.export_id:
            label = f"{label} of export {self.export_id}"
        return label


UrlRefresher = Callable[[], Awaitable[str]]
"""Returns a freshly signed URL for the same part (providers with expiring links)."""


@dataclass(slots=True)
class Part:
    """One file to stream: where it is, how to decode it, how to re-sign it."""

    info: PartInfo
    url: str
    size: int | None = None
    """Expected size in bytes of the file as stored (``SizeInBytes``), if known."""
    records: int | None = None
    """Records the vendor says the file holds (LogiSense ``exportRowCount``,
    Rebilly ``recordCount``), if it says: a progress total, not a check (the
    decoder's ``expected_rows`` option is the check)."""
    format: Format = "jsonl"
    compression: Compression = "auto"
    """``auto``: gunzip when the URL path ends in ``.gz`` or the body starts with
    the gzip magic; ``Content-Encoding: gzip`` is always handled."""
    refresh: UrlRefresher | None = None
    url_ttl: float | None = None
    """Seconds a URL stays valid; the engine re-signs before a request once
    80% of it has passed."""
    url_issued_at: float | None = None
    """``time.monotonic()`` when :attr:`url` was issued."""
    headers: Mapping[str, str] = field(default_factory=dict)
    decoder_options: Mapping[str, Any] = field(default_factory=dict)
    """Format-specific settings, e.g. the CSV delimiter."""


class Record(msgspec.Struct, gc=False):
    """One decoded record and its provenance.

    :attr:`data` is the full decoded object (unknown fields included);
    ``line`` is the 1-based physical line where it starts and ``offset`` the
    byte offset of that line in the decoded file: together they find it in
    the source.

    JSON Lines records are *validated* when their line is read (the full
    JSON grammar and UTF-8, refused if not an object) but kept as their raw
    line: :attr:`data` decodes it on first access, so a line is parsed once,
    by whoever needs it, and not at all on the way to a JSONL file.  Holding
    thousands of decoded dicts in batches and queues is what made the cyclic
    GC rescan them (56% of the run in the profile, 8x slower in memory); raw
    lines are invisible to it, so only the records a consumer actually keeps
    cost anything.  Sinks that read each record once use :meth:`to_json` or
    :meth:`decoded`, which decode without caching.

    A msgspec Struct with ``gc=False``: built in C and itself untracked.
    """

    value: Any
    """The decoded object, or ``None`` until :attr:`data` decodes :attr:`raw`."""
    part: PartInfo
    line: int
    offset: int
    raw: bytes | None = None
    """The record's line as read (JSON Lines), already validated."""

    @property
    def data(self) -> Any:
        """The decoded object (decoded once, then kept with the record)."""
        value = self.value
        if value is None and self.raw is not None:
            value = self.value = self._loads()
        return value

    def decoded(self) -> Any:
        """The decoded object without keeping it: for code that reads each record once."""
        value = self.value
        return self._loads() if value is None and self.raw is not None else value

    def to_json(self) -> bytes:
        """The record as one line of JSON, without keeping a decoded copy.

        A record nobody decoded is its validated line, returned as the vendor
        sent it: no decode and re-encode on the way to a JSONL or Singer
        output, and numbers such as ``1.10`` or ``12345678901234567890`` keep
        their exact text.  CR bytes are dropped: in a validated line a CR can
        only be whitespace (a CRLF ending, or between tokens), and a reader
        in text mode would take it for a line break.  A record whose
        :attr:`data` was decoded (and perhaps edited) is encoded as it is now.
        """
        raw = self.raw
        if self.value is None and raw is not None:
            return raw.replace(b"\r", b"") if b"\r" in raw else raw
        return orjson.dumps(self.value)

    def _loads(self) -> Any:
        """Decode :attr:`raw`; the rare valid JSON that orjson refuses (a number
        beyond a double, such as ``1e400``) fails here, with its place."""
        try:
            return orjson.loads(self.raw)  # type: ignore[arg-type]
        except orjson.JSONDecodeError as exc:
            raise self.error(f"cannot decode ({exc})", snippet=self.raw or b"") from None

    def error(self, reason: str, *, snippet: bytes = b"") -> DecodeError:
        """A :class:`DecodeError` that points at this record (part, line, byte offset)."""
        return DecodeError(reason, part=self.part.describe(), line=self.line, offset=self.offset, snippet=snippet)

    @property
    def entity_type(self) -> str | None:
        return self.part.entity_type

    @property
    def source(self) -> str:
        return self.part.source

    def typed(self) -> Any:
        """The record as its entity's typed Struct (validated), if one is registered."""
        from streamer.typed import typed_record

        return typed_record(self)


def to_jsonl(records: list[Record]) -> bytes:
    """The records as JSON Lines, newline-terminated: :meth:`Record.to_json` for a batch.

    Lines nobody decoded are joined as read, in one C call; CR bytes (only
    ever whitespace in a validated line) are dropped with one scan.
    """
    lines = [r.raw if r.value is None and r.raw is not None else orjson.dumps(r.value) for r in records]
    lines.append(b"")  # the trailing newline, without copying the payload again
    payload = b"\n".join(lines)
    return payload.replace(b"\r", b"") if b"\r" in payload else payload


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """How far a part has been delivered: resume here and nothing repeats.

    ``offset`` is the byte offset (in the decoded file) just past the last
    delivered line; ``line`` that line's number.  ``decoder_state`` carries
    what a decoder needs to restart mid-file (e.g. the CSV header).
    """

    part_key: str
    offset: int
    line: int
    done: bool = False
    decoder_state: Mapping[str, Any] | None = None
    compressed: bool = False
    """The part is gzipped: ``offset`` counts decompressed bytes and a cold
    resume must re-read from the start and skip them."""
    etag: str | None = None
    """The file's ``ETag`` when it was read: a resume in another process sends
    it as ``If-Range`` and refuses a file that changed, instead of splicing
    two versions together."""
    last_modified: str | None = None
    """The file's ``Last-Modified`` when it was read: a resumed response that
    lacks it or carries another one is a changed file."""
    length: int | None = None
    """The file's raw length (``Content-Length`` or ``Content-Range``'s total)
    when it was read: a resumed response for another length is a changed file."""

    def to_json(self) -> dict[str, Any]:
        """The JSON form kept by state files and the ``dir`` sink (keyed by part)."""
        entry: dict[str, Any] = {"offset": self.offset, "line": self.line, "done": self.done}
        if self.compressed:
            entry["compressed"] = True
        if self.decoder_state:
            entry["decoder_state"] = dict(self.decoder_state)
        if self.etag:
            entry["etag"] = self.etag
        if self.last_modified:
            entry["last_modified"] = self.last_modified
        if self.length is not None:
            entry["length"] = self.length
        return entry

    @classmethod
    def from_json(cls, part_key: str, entry: Mapping[str, Any]) -> Checkpoint:
        """Inverse of :meth:`to_json`; ``ValueError`` names the part if the entry is malformed."""
        try:
            etag, modified, length = entry.get("etag"), entry.get("last_modified"), entry.get("length")
            return cls(
                part_key=part_key,
                offset=int(entry["offset"]),
                line=int(entry["line"]),
                done=bool(entry.get("done", False)),
                decoder_state=entry.get("decoder_state"),
                compressed=bool(entry.get("compressed", False)),
                etag=None if etag is None else str(etag),
                last_modified=None if modified is None else str(modified),
                length=None if length is None else int(length),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"checkpoint of part {part_key} is malformed: {entry!r}") from exc


Bookmarks = dict[str, dict[str, Any]]
"""Bookmark key → ``{"stream", "replication_key", "replication_key_value"}`` (see :mod:`streamer.incremental`)."""


class Batch:
    """Records of one part, in file order, with the checkpoint they reach.

    A sink that stores ``batch.checkpoint`` in the same transaction as the
    records gets exactly-once resume.
    """

    __slots__ = ("records", "part", "checkpoint", "bookmarks")

    def __init__(self, records: list[Record], part: PartInfo, checkpoint: Checkpoint) -> None:
        self.records = records
        self.part = part
        self.checkpoint = checkpoint
        self.bookmarks: Bookmarks | None = None
        """Bookmarks this batch completes (incremental exports): commit them with it."""

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.records)

    def typed(self, struct: type[msgspec.Struct] | None = None) -> list[Any]:
        """Every record as ``struct`` (default: the part's entity Struct), decoded
        straight from the raw lines; see :mod:`streamer.typed`."""
        from streamer.typed import typed_batch

        return typed_batch(self, struct or True)

    def __repr__(self) -> str:
        return f"Batch({self.part.describe()}, {len(self.records)} records, {self.checkpoint})"
