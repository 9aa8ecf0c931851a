"""What a server's answers must prove before their bytes are believed.

:class:`FileIdentity` keeps what the first response said about the file —
its length (``Content-Length`` or ``Content-Range``'s total), ``ETag``,
``Last-Modified`` and ``Content-Encoding`` — and checks every later response
of the same part against it.  A resumed response that cannot prove it
continues the same bytes is refused: :class:`PartChangedError` when the
evidence says the file changed (the caller may restart the part from zero),
:class:`PartError` when the answer is malformed.  docs/server-answers.md has
the table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from streamer.errors import PartChangedError, PartError, SizeMismatchError

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_UNSATISFIED_RANGE = re.compile(r"bytes \*/(\d+)")
HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xhtml")
ENCODINGS = frozenset({"identity", "gzip", "x-gzip"})


class IncompleteBody(PartError):
    """The body ended early without a transport error: retried with ``Range``."""


@dataclass(frozen=True, slots=True)
class BodyPlan:
    """How to read one accepted response's body."""

    skip: int
    """Leading raw bytes of the body already received (a server that ignored
    Range, or resumed earlier than asked with a proven-identical file)."""
    span: int | None
    """Bytes the body must carry, when the response says (Content-Length, Content-Range)."""
    first: bool
    """The first response of this run: the caller sets up decompression."""


class FileIdentity:
    """The file as its first response described it; later responses must agree."""

    __slots__ = ("label", "announced", "etag", "last_modified", "length", "encoding", "_seen")

    def __init__(
        self,
        label: str,
        *,
        announced: int | None,
        etag: str | None = None,
        last_modified: str | None = None,
        length: int | None = None,
    ) -> None:
        self.label = label
        self.announced = announced
        """The provider's size for the stored file (``None``: unknown or not to be checked)."""
        # Validators and length come from the first response, or from a checkpoint
        # written by another run: a resume in a new process is then checked
        # exactly as one within the same run.
        self.etag = etag
        self.last_modified = last_modified
        self.length = length
        self.encoding: str | None = None
        self._seen = False

    @property
    def expected_size(self) -> int | None:
        """Raw bytes the part must have: the announced size, else the first response's length."""
        if self.announced is not None and self.encoding == "identity":
            return self.announced
        return self.length

    def check(self, status: int, headers: Mapping[str, str], offset: int) -> BodyPlan:
        """Accept a 200/206 answer to a request for bytes ``offset``- (0: the whole file)."""
        first = not self._seen
        self._check_encoding(headers)
        proven = self._check_validators(headers, first)
        if status == 206:
            skip, span, total = self._check_content_range(headers, offset, proven)
        else:
            skip, span = offset, _content_length(headers)
            total = span
            if offset and self.length is not None and span is None and not proven:
                raise PartChangedError(
                    self.label,
                    f"server ignored Range bytes={offset}- and answered a 200 of unknown length "
                    "without a strong ETag: cannot prove it is the same file",
                )
        if total is not None:
            self._check_length(total, "Content-Range total" if status == 206 else "Content-Length")
        self._seen = True
        return BodyPlan(skip=skip, span=span, first=first)

    def check_not_satisfiable(self, headers: Mapping[str, str], offset: int) -> None:
        """416 to ``Range: bytes=offset-``: "done" only if the file has exactly ``offset`` bytes."""
        value = headers.get("Content-Range", "").strip()
        match = _UNSATISFIED_RANGE.fullmatch(value)
        if match is None:
            raise PartError(
                self.label,
                f"server answered 416 to Range bytes={offset}- without Content-Range bytes */<size> "
                f"({value or 'none'}): cannot tell whether the file ends there",
            )
        total = int(match.group(1))
        if total < offset:
            raise PartChangedError(self.label, f"file shrank to {total} bytes after {offset} were read")
        if total > offset:
            raise PartError(
                self.label, f"server refused Range bytes={offset}- (416) although it says the file has {total} bytes"
            )
        if self.length is not None and total != self.length:
            raise PartChangedError(self.label, f"file is now {total} bytes; its first response said {self.length}")

    def check_end(self, offset: int, body: int, span: int | None) -> bool:
        """At a clean end of body: True when the part is complete, False when it is short."""
        if span is not None and body > span:
            raise PartError(self.label, f"response body has {body} bytes, more than the {span} it announced")
        size = self.expected_size
        if size is None:
            return span is None or body == span
        if offset > size:
            raise SizeMismatchError(self.label, f"received {offset} bytes but {self._size_source()} {size}")
        return offset == size

    def short_message(self, offset: int) -> str:
        return f"the file has {offset} bytes but {self._size_source()} {self.expected_size}"

    # ------------------------------------------------------------------ checks

    def _size_source(self) -> str:
        if self.announced is not None and self.encoding == "identity":
            return "the export announced"
        return "its first response said"

    def _check_encoding(self, headers: Mapping[str, str]) -> None:
        encoding = headers.get("Content-Encoding", "identity").strip().lower() or "identity"
        if encoding not in ENCODINGS:
            raise PartError(self.label, f"unsupported Content-Encoding {encoding!r}")
        if self.encoding is None:
            self.encoding = encoding
        elif encoding != self.encoding:
            raise PartChangedError(
                self.label, f"Content-Encoding changed from {self.encoding} to {encoding} on resume"
            )

    def _check_validators(self, headers: Mapping[str, str], first: bool) -> bool:
        """Refuse changed or missing validators; True when a strong ETag proves the same file."""
        etag, modified = headers.get("ETag"), headers.get("Last-Modified")
        if self.etag is not None and etag != self.etag:
            now = f"became {etag}" if etag else "is missing from the new response"
            raise PartChangedError(
                self.label,
                f"file changed since it was first read (ETag {self.etag} {now}); refusing to mix two versions",
            )
        if self.last_modified is not None and modified != self.last_modified:
            now = f"became {modified}" if modified else "is missing from the new response"
            raise PartChangedError(
                self.label,
                f"file changed since it was first read (Last-Modified {self.last_modified} {now}); "
                "refusing to mix two versions",
            )
        if first:
            self.etag = self.etag or etag
            self.last_modified = self.last_modified or modified
        return etag is not None and etag == self.etag and not etag.startswith("W/")

    def _check_content_range(
        self, headers: Mapping[str, str], offset: int, proven: bool
    ) -> tuple[int, int, int | None]:
        value = headers.get("Content-Range", "").strip()
        match = _CONTENT_RANGE.fullmatch(value)
        if match is None:
            raise PartError(self.label, f"206 response without a valid Content-Range ({value or 'none'})")
        start, end = int(match.group(1)), int(match.group(2))
        total = None if match.group(3) == "*" else int(match.group(3))
        if end < start or (total is not None and end >= total):
            raise PartError(self.label, f"206 response with an impossible Content-Range {value!r}")
        if total is None and self.expected_size is not None:
            raise PartError(self.label, f"206 Content-Range {value!r} hides the total ({self.expected_size} known)")
        if start > offset:
            raise PartError(self.label, f"server resumed at byte {start}, after the requested {offset}")
        if start < offset and not proven:
            raise PartError(
                self.label,
                f"server resumed at byte {start}, before the requested {offset}, without a strong ETag "
                "proving it is the same file: refusing to splice",
            )
        if end < offset:
            raise PartError(self.label, f"206 Content-Range {value!r} ends before the requested byte {offset}")
        span = end - start + 1
        length = _content_length(headers)
        if length is not None and length != span:
            raise PartError(self.label, f"206 Content-Length {length} differs from its Content-Range {value!r}")
        return offset - start, span, total

    def _check_length(self, length: int, source: str) -> None:
        if self.length is None:
            self.length = length
            announced = self.announced
            if announced is not None and self.encoding == "identity" and length != announced:
                raise SizeMismatchError(
                    self.label, f"server says the file has {length} bytes ({source}) but the export announced {announced}"
                )
        elif length != self.length:
            raise PartChangedError(
                self.label, f"file is now {length} bytes ({source}); its first response said {self.length}"
            )


def media_type_error(content_type: str) -> str | None:
    """Why a response's media type cannot be data (an HTML page), compared case-insensitively."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media.startswith(HTML_TYPES):
        return f"an HTML page ({content_type})"
    return None


def _content_length(headers: Mapping[str, str]) -> int | None:
    value = headers.get("Content-Length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)
