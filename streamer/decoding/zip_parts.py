"""A ZIP of parts, streamed member by member through the members' own decoder.

Rebilly answers an export of more than 1,000,000 records with a ZIP holding
several files of the requested format.  A ZIP's central directory sits at
the *end* of the archive, so the usual readers (``zipfile``) need the whole
file, seekable, before the first record.  Two designs were weighed:

* spool the download to a temporary file (bounded memory, but disk the size
  of the export, and no record before the last byte arrived), then read the
  members from the central directory;
* read the archive *sequentially* by its local file headers, which precede
  every member's data: sizes are in the header, or — when the writer
  streamed the archive (flag bit 3, sizes in a trailing data descriptor) —
  the deflate stream itself marks its end.

This module does the second: records flow while the archive downloads,
memory is one chunk plus a header, nothing touches the disk, and the
engine's ``Range`` resume works unchanged because the decoder is fed the
archive's raw bytes.  Every member's CRC-32 and sizes are verified.  What
sequential reading cannot do is refused with a clear error instead of
guessed: encrypted members, methods other than stored/deflate, and *stored*
members whose size is only in a data descriptor (nothing marks their end).

Checkpoints: :attr:`offset` is the archive offset of the local header of the
member being read (or of the next one), and :meth:`state` carries the
member's own decoder position.  A cold resume re-reads that member from its
header — deflate state cannot be serialised — and skips the decompressed
bytes already delivered, so nothing is repeated and nothing is lost.

Options: ``member_format`` (required: the members' format, e.g. ``"csv"``),
``member_options`` (that decoder's options), ``plain`` (``True``: a body
that is not a ZIP at all is decoded directly as ``member_format`` — the
vendor sends a ZIP only above a size threshold), ``plain_options`` (extra
options for that case only, e.g. the CSV decoder's ``expected_rows``).
"""

from __future__ import annotations

import dataclasses
import struct
import zlib
from collections.abc import Mapping
from typing import Any

from streamer.decoding.base import Decoder, DecoderStart, decoder_factory
from streamer.errors import ConfigError, DecodeError
from streamer.records import PartInfo, Record

LOCAL_HEADER = b"PK\x03\x04"
END_MARKERS = (b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07")
DESCRIPTOR = b"PK\x07\x08"
_LOCAL = struct.Struct("<4sHHHHHIIIHH")
OUTPUT_STEP = 1 << 20
"""Largest decompressed piece handed to the member decoder at once."""


@dataclasses.dataclass
class _Member:
    index: int
    name: str
    header_offset: int
    flags: int
    method: int
    crc: int
    compressed_size: int | None
    size: int | None
    zip64: bool
    decoder: Decoder
    skip: int = 0
    """Decompressed bytes already delivered before a cold resume."""
    read: int = 0
    written: int = 0
    crc_seen: int = 0
    inflater: Any = None

    @property
    def streamed(self) -> bool:
        return bool(self.flags & 0x08)


class ZipPartsDecoder:
    """Decodes a ZIP archive's members, in archive order, as ``member_format``."""

    def __init__(self, start: DecoderStart, options: Mapping[str, Any]) -> None:
        options = dict(options)
        part, offset, line = start.part, start.offset, start.line
        self._origin = start
        self._part = part
        self._label = start.label
        try:
            self._member_format: str = options.pop("member_format")
        except KeyError:
            raise ConfigError(f"{self._label}: the zip decoder needs options['member_format']") from None
        self._member_options: Mapping[str, Any] = options.pop("member_options", {}) or {}
        self._plain_allowed = bool(options.pop("plain", False))
        self._plain_options: Mapping[str, Any] = {**self._member_options, **(options.pop("plain_options", {}) or {})}
        start.refuse_unknown("zip", options)
        self._buf = bytearray()
        self._base = offset  # archive offset of _buf[0]
        self._member: _Member | None = None
        self._plain: Decoder | None = None
        self._members_seen = 0
        state = dict(start.state or {})
        self._next_index: int = state.get("member", 0)
        self._resume: dict[str, Any] | None = None
        if offset == 0 and not state:
            self._stage = "sniff"
        elif state.get("mode") == "plain":
            self._stage = "plain"
            self._plain = self._inner(part, offset=offset, line=line, state=state.get("inner"), plain=True)
        else:
            self._stage = "header"
            if state.get("inner_offset"):
                self._resume = state
        self.offset = offset
        self.line = line
        self._tail_offset = offset

    # ----------------------------------------------------------- contract

    def state(self) -> Mapping[str, Any] | None:
        if self._plain is not None:
            return {"mode": "plain", "inner": self._plain.state()}
        member = self._member
        if member is None:
            return {"mode": "zip", "member": self._next_index}
        return {
            "mode": "zip",
            "member": member.index,
            "name": member.name,
            "inner_offset": member.decoder.offset,
            "inner_line": member.decoder.line,
            "inner_state": member.decoder.state(),
        }

    def feed(self, chunk: bytes, out: list[Record]) -> None:
        if self._plain is not None:
            self._plain.feed(chunk, out)
            self.offset, self.line = self._plain.offset, self._plain.line
            return
        self._buf += chunk
        while self._step(out, final=False):
            pass
        self._sync_position()

    def finish(self, out: list[Record]) -> None:
        if self._plain is not None:
            self._plain.finish(out)
            self.offset, self.line = self._plain.offset, self._plain.line
            return
        while self._step(out, final=True):
            pass
        if self._plain is not None:  # a body under 4 bytes (``[]``: an empty JSON export) is sniffed only now
            self._plain.finish(out)
            self.offset, self.line = self._plain.offset, self._plain.line
            return
        if self._stage == "sniff" and not self._buf:
            return  # an empty body: no records
        if self._stage != "tail":
            raise self._error(f"the ZIP archive ends early ({self._stage_text()}): the file is truncated")
        self._sync_position()

    # ------------------------------------------------------------ steps

    def _step(self, out: list[Record], final: bool) -> bool:
        stage = self._stage
        if stage == "sniff":
            return self._sniff(out, final)
        if stage == "header":
            return self._header()
        if stage == "data":
            return self._data(out)
        if stage == "descriptor":
            return self._descriptor(out)
        if stage == "tail":
            self._base += len(self._buf)
            self._buf.clear()
        return False

    def _sniff(self, out: list[Record], final: bool) -> bool:
        if len(self._buf) < 4 and not final:
            return False
        head = bytes(self._buf[:4])
        if head == LOCAL_HEADER or head in END_MARKERS:
            self._stage = "header"
            return True
        if not self._plain_allowed:
            raise self._error(f"expected a ZIP archive, the body starts with {head!r}")
        self._plain = self._inner(self._part, offset=0, line=0, state=None, plain=True)
        data, self._buf = bytes(self._buf), bytearray()
        self._stage = "plain"
        self._plain.feed(data, out)
        return False

    def _header(self) -> bool:
        buf = self._buf
        if len(buf) < 4:
            return False
        signature = bytes(buf[:4])
        if signature in END_MARKERS:
            self._stage = "tail"
            self._tail_offset = self._base
            self._next_index = self._members_seen
            return True
        if signature != LOCAL_HEADER:
            raise self._error(f"expected a ZIP local file header, found {signature!r}")
        if len(buf) < _LOCAL.size:
            return False
        (_, _, flags, method, _, _, crc, csize, usize, name_len, extra_len) = _LOCAL.unpack_from(buf)
        total = _LOCAL.size + name_len + extra_len
        if len(buf) < total:
            return False
        raw_name = bytes(buf[_LOCAL.size : _LOCAL.size + name_len])
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        extra = bytes(buf[_LOCAL.size + name_len : total])
        zip64 = False
        for field_id, data in _extra_fields(extra):
            if field_id == 0x0001:
                zip64 = True
                values = list(struct.unpack_from(f"<{len(data) // 8}Q", data))
                if usize == 0xFFFFFFFF and values:
                    usize = values.pop(0)
                if csize == 0xFFFFFFFF and values:
                    csize = values.pop(0)
        index = self._next_index
        if flags & 0x01:
            raise self._error(f"ZIP member {name!r} is encrypted; streamer cannot read it")
        if method not in (0, 8):
            raise self._error(f"ZIP member {name!r} uses compression method {method}; only stored and deflate are supported")
        streamed = bool(flags & 0x08)
        if streamed and method == 0 and not csize:
            raise self._error(
                f"ZIP member {name!r} is stored with its size only in a trailing data descriptor; "
                "it cannot be read sequentially"
            )
        header_offset = self._base
        del buf[:total]
        self._base += total
        member_info = dataclasses.replace(
            self._part, name=f"{self._part.name or f'part {self._part.index}'} [{name}]"
        )
        resume = self._resume if self._resume and self._resume.get("member") == index else None
        decoder: Decoder
        if name.endswith("/") or name.startswith("__MACOSX/"):
            decoder = _Discard()  # directories and resource forks carry no records
        else:
            decoder = self._inner(
                member_info,
                offset=resume["inner_offset"] if resume else 0,
                line=resume.get("inner_line", 0) if resume else 0,
                state=resume.get("inner_state") if resume else None,
            )
        self._resume = None
        self._member = _Member(
            index=index,
            name=name,
            header_offset=header_offset,
            flags=flags,
            method=method,
            crc=crc,
            compressed_size=None if streamed and not csize else csize,
            size=None if streamed and not usize else usize,
            zip64=zip64,
            decoder=decoder,
            skip=resume["inner_offset"] if resume else 0,
            inflater=zlib.decompressobj(-zlib.MAX_WBITS) if method == 8 else None,
        )
        self._stage = "data"
        return True

    def _data(self, out: list[Record]) -> bool:
        member = self._member
        assert member is not None
        buf = self._buf
        if member.inflater is None and member.compressed_size is not None and member.read >= member.compressed_size:
            self._close_member(out, member.crc, member.size)  # an empty stored member
            return True
        if not buf:
            return False
        if member.compressed_size is not None:
            take = min(len(buf), member.compressed_size - member.read)
        else:
            take = len(buf)
        data = bytes(buf[:take])
        leftover = b""
        if member.inflater is None:
            self._deliver(member, data, out)
            consumed = take
        else:
            inflater = member.inflater
            try:
                piece = inflater.decompress(data, OUTPUT_STEP)
                self._deliver(member, piece, out)
                while inflater.unconsumed_tail and not inflater.eof:
                    piece = inflater.decompress(inflater.unconsumed_tail, OUTPUT_STEP)
                    self._deliver(member, piece, out)
            except zlib.error as exc:
                raise self._error(f"ZIP member {member.name!r} has corrupt deflate data ({exc})") from None
            if inflater.eof:
                leftover = inflater.unused_data
            consumed = take - len(leftover)
        member.read += consumed
        del buf[:consumed]
        self._base += consumed
        done = (
            member.inflater.eof
            if member.inflater is not None
            else member.compressed_size is not None and member.read >= member.compressed_size
        )
        if member.inflater is not None and member.compressed_size is not None:
            if member.read >= member.compressed_size and not member.inflater.eof:
                raise self._error(f"ZIP member {member.name!r}: its deflate data ends before the stream does")
        if not done:
            return False
        if member.streamed:
            self._stage = "descriptor"
            return True
        self._close_member(out, member.crc, member.size)
        return True

    def _descriptor(self, out: list[Record]) -> bool:
        member = self._member
        assert member is not None
        buf = self._buf
        sizes = 16 if member.zip64 else 8
        if len(buf) < 4:
            return False
        signed = bytes(buf[:4]) == DESCRIPTOR
        need = (4 if signed else 0) + 4 + sizes
        if len(buf) < need:
            return False
        at = 4 if signed else 0
        crc = struct.unpack_from("<I", buf, at)[0]
        size = struct.unpack_from("<Q" if member.zip64 else "<I", buf, at + 4 + sizes // 2)[0]
        del buf[:need]
        self._base += need
        self._close_member(out, crc, size)
        return True

    def _close_member(self, out: list[Record], crc: int, size: int | None) -> None:
        member = self._member
        assert member is not None
        if size is not None and member.written != size:
            raise self._error(
                f"ZIP member {member.name!r} decompressed to {member.written} bytes, its header says {size}"
            )
        if member.crc_seen != crc:
            raise self._error(f"ZIP member {member.name!r} fails its CRC-32 check: the archive is corrupt")
        member.decoder.finish(out)
        self._members_seen = member.index + 1
        self._next_index = member.index + 1
        self._member = None
        self._stage = "header"

    def _deliver(self, member: _Member, data: bytes, out: list[Record]) -> None:
        if not data:
            return
        member.crc_seen = zlib.crc32(data, member.crc_seen)
        member.written += len(data)
        if member.skip:
            if len(data) <= member.skip:
                member.skip -= len(data)
                return
            data = data[member.skip :]
            member.skip = 0
        member.decoder.feed(data, out)

    # ------------------------------------------------------------ helpers

    def _inner(
        self, info: PartInfo, *, offset: int, line: int, state: Mapping[str, Any] | None, plain: bool = False
    ) -> Decoder:
        start = dataclasses.replace(self._origin, part=info, offset=offset, line=line, state=state)
        return decoder_factory(self._member_format)(start, self._plain_options if plain else self._member_options)

    def _sync_position(self) -> None:
        """Resume point: the header of the member in progress, or of the next one."""
        if self._member is not None:
            self.offset = self._member.header_offset
            self.line = self._member.decoder.line
        elif self._stage == "header":
            self.offset = self._base
            self.line = 0
        elif self._stage == "tail":
            self.offset = self._tail_offset  # a resume re-reads the end marker, not its middle
            self.line = 0

    def _stage_text(self) -> str:
        member = self._member
        if member is not None:
            return f"inside member {member.name!r}"
        return {"sniff": "before the first header", "header": "inside a local file header"}.get(
            self._stage, self._stage
        )

    def _error(self, reason: str) -> DecodeError:
        return DecodeError(reason, part=self._label, line=0, offset=self._base, snippet=b"")


class _Discard:
    """The decoder of a member that carries no records (a directory entry)."""

    offset = 0
    line = 0

    def feed(self, chunk: bytes, out: list[Record]) -> None:
        pass

    def finish(self, out: list[Record]) -> None:
        pass

    def state(self) -> Mapping[str, Any] | None:
        return None


def _extra_fields(extra: bytes) -> list[tuple[int, bytes]]:
    fields = []
    pos = 0
    while pos + 4 <= len(extra):
        field_id, size = struct.unpack_from("<HH", extra, pos)
        fields.append((field_id, extra[pos + 4 : pos + 4 + size]))
        pos += 4 + size
    return fields
