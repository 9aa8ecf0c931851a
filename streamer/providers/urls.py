"""The generic source: a list of URLs or local files, each one part."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

import aiohttp

from streamer.errors import ConfigError
from streamer.http.redact import register_secret
from streamer.redaction import redact_broken_url
from streamer.schemas.registry import resolve
from streamer.records import Compression, Format, Part, PartInfo

_FORMAT_SUFFIXES: dict[str, Format] = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv"}


def format_of(url: str) -> Format:
    """The format a URL's path names (``.csv``, ``.json``, ``.jsonl``/``.ndjson``, each also
    with ``.gz``); JSON Lines when it names none."""
    path = urlsplit(url).path.lower().removesuffix(".gz").removesuffix(".gzip")
    return next((fmt for suffix, fmt in _FORMAT_SUFFIXES.items() if path.endswith(suffix)), "jsonl")


class UrlSource:
    """Streams plain URLs, e.g. links you already have.

    ``format="auto"`` (the default) reads each URL by its path's extension
    (:func:`format_of`), as ``compression="auto"`` gunzips ``.gz`` paths.
    A path or ``file://`` URL streams a local file through the same decoding
    and checkpoints (by byte offset): replaying an export downloaded earlier.

    Sizes known before the first byte give a progress bar its total from the
    start: ``sizes`` says them; a local file's is read from the file system;
    with ``size_probe_timeout`` > 0 every other URL is asked its size first
    (:func:`~streamer.http.sizes.probe_sizes`: one ``GET`` of one byte per URL,
    8 at a time), never delaying the run by more than that many seconds —
    a size not learned in time is learned from the download's first response.
    Off by default: a library caller without a display would pay a request
    per URL for nothing (the CLI turns it on when it draws a bar).
    """

    name = "urls"

    def __init__(
        self,
        urls: Iterable[str | Path],
        *,
        format: Format | Literal["auto"] = "auto",
        compression: Compression = "auto",
        entity_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        sizes: Iterable[int | None] | None = None,
        schema: str | None = None,
        size_probe_timeout: float = 0.0,
    ) -> None:
        """``schema`` (``"mews:OrderItem"``) types the records with a vendor's schema:
        ``record.typed()`` and Singer SCHEMA messages use it; without one, Singer
        infers a schema from the records."""
        self.urls = [as_url(url) for url in urls]
        if not self.urls:
            raise ValueError("UrlSource needs at least one URL")
        self.format: Format | Literal["auto"] = format
        self.compression: Compression = compression
        self.entity_type = entity_type
        self.schema = resolve(schema).ref if schema else None
        self.headers = dict(headers or {})
        self.sizes = list(sizes) if sizes is not None else [None] * len(self.urls)
        self.size_probe_timeout = size_probe_timeout
        self.group = url_list_digest(self.urls)
        for url in self.urls:  # a signed URL's query values are credentials, wherever a server echoes them
            for _, value in parse_qsl(urlsplit(url).query):
                if len(value) >= 10:
                    register_secret(value)

    async def parts(self, session: aiohttp.ClientSession) -> AsyncIterator[Part]:
        sizes = await self._known_sizes(session)
        for index, (url, size) in enumerate(zip(self.urls, sizes, strict=True)):
            name = urlsplit(url).path.rsplit("/", 1)[-1] or f"part {index}"
            yield Part(
                info=PartInfo(
                    source=self.name,
                    index=index,
                    entity_type=self.entity_type,
                    name=f"part {index} ({name})",
                    group=self.group,
                    schema=self.schema,
                ),
                url=url,
                size=size,
                format=format_of(url) if self.format == "auto" else self.format,
                compression=self.compression,
                headers=self.headers,
            )

    async def _known_sizes(self, session: aiohttp.ClientSession) -> list[int | None]:
        """``sizes``, completed by local files' sizes and (if enabled) a bounded probe of the rest."""
        sizes = [size if size is not None else _local_size(url) for url, size in zip(self.urls, self.sizes, strict=True)]
        unknown = [i for i, size in enumerate(sizes) if size is None and not self.urls[i].startswith("file:")]
        if unknown and self.size_probe_timeout > 0:
            from streamer.http.sizes import probe_sizes

            probed = await probe_sizes(
                session, [self.urls[i] for i in unknown], self.headers, timeout=self.size_probe_timeout
            )
            for i, size in zip(unknown, probed, strict=True):
                sizes[i] = size
        return sizes


def _local_size(url: str) -> int | None:
    """A ``file://`` URL's size on disk (``None`` for other URLs, or a file that cannot be read)."""
    parts = urlsplit(url)
    if parts.scheme != "file":
        return None
    try:
        return Path(unquote(parts.path)).stat().st_size
    except OSError:
        return None  # the download names the problem


def as_url(url_or_path: str | Path) -> str:
    """A URL as given; a path (anything without ``scheme://``) as its absolute ``file://`` URL."""
    text = str(url_or_path)
    if "://" in text:
        try:
            urlsplit(text).port  # noqa: B018 - the port is parsed (and refused) only when read
        except ValueError as exc:
            raise ConfigError(f"URL {redact_broken_url(text)} is not a valid address: {exc}") from None
        return text
    return Path(text).expanduser().resolve().as_uri()


def url_list_digest(urls: Iterable[str]) -> str:
    """12 hex digits naming a list of files by host and path only.

    Query strings are left out: re-signed links to the same files keep the
    digest, so a rerun resumes; a different list of files gets another one,
    so its parts never pick up this list's checkpoints.
    """
    digest = hashlib.sha256()
    for url in urls:
        parts = urlsplit(url)
        digest.update(urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")).encode() + b"\n")
    return digest.hexdigest()[:12]
