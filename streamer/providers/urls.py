"""The generic source: a list of URLs, each one part."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterable, Mapping
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from streamer.schemas.registry import resolve
from streamer.records import Compression, Format, Part, PartInfo


class UrlSource:
    """Streams plain URLs (JSONL by default), e.g. links you already have."""

    name = "urls"

    def __init__(
        self,
        urls: Iterable[str],
        *,
        format: Format = "jsonl",
        compression: Compression = "auto",
        entity_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        sizes: Iterable[int | None] | None = None,
        schema: str | None = None,
    ) -> None:
        """``schema`` (``"mews:OrderItem"``) types the records with a vendor's schema:
        ``record.typed()`` and Singer SCHEMA messages use it; without one, Singer
        infers a schema from the records."""
        self.urls = list(urls)
        if not self.urls:
            raise ValueError("UrlSource needs at least one URL")
        self.format: Format = format
        self.compression: Compression = compression
        self.entity_type = entity_type
        self.schema = resolve(schema).ref if schema else None
        self.headers = dict(headers or {})
        self.sizes = list(sizes) if sizes is not None else [None] * len(self.urls)
        self.group = url_list_digest(self.urls)

    async def parts(self, session: aiohttp.ClientSession) -> AsyncIterator[Part]:
        for index, (url, size) in enumerate(zip(self.urls, self.sizes, strict=True)):
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
                format=self.format,
                compression=self.compression,
                headers=self.headers,
            )


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
