"""Sources across processes: a part described at the coordinator, rebuilt on a worker.

A provider that runs on a cluster has a :class:`PartCodec`: ``describe``
turns one of its parts into the non-secret fields of a
:class:`~streamer.distributed.specs.PartSpec`, and ``rebuild`` makes, on the
worker, a one-part :class:`~streamer.providers.base.Source` that streams it
— with the provider's own ``refresh`` where its URLs expire, so an expired
link is re-signed by the worker that holds it, with credentials from that
worker's environment.

Plain URLs (``urls``), Mews (:mod:`streamer.distributed.mews`), LogiSense
(:mod:`streamer.distributed.logisense`) and Rebilly
(:mod:`streamer.distributed.rebilly`) have codecs; another provider joins by
registering its codec in :data:`PART_CODECS`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

import aiohttp

from streamer.distributed.specs import PartSpec
from streamer.errors import ConfigError
from streamer.providers.base import Source
from streamer.records import Part


class PartCodec(Protocol):
    def describe(self, source: Source, part: Part) -> tuple[str | None, Mapping[str, Any]]:
        """``(url to carry or None, non-secret provider settings)`` for ``part``; refuse what cannot travel."""
        ...

    def rebuild(self, spec: PartSpec) -> Source:
        """A source of exactly the part ``spec`` names, on the worker."""
        ...


class _OnePart:
    """A source of one already-known part."""

    def __init__(self, name: str, part: Part) -> None:
        self.name = name
        self._part = part

    async def parts(self, session: aiohttp.ClientSession) -> AsyncIterator[Part]:
        yield self._part


class UrlCodec:
    """``UrlSource`` parts: the URL is the part; nothing to re-sign."""

    def describe(self, source: Source, part: Part) -> tuple[str | None, Mapping[str, Any]]:
        if part.headers:
            raise ConfigError(
                f"{part.info.describe()}: request headers are not sent to cluster workers (they may hold "
                "credentials); use URLs that need none, or run without a cluster"
            )
        return part.url, {}

    def rebuild(self, spec: PartSpec) -> Source:
        if spec.url is None:
            raise ConfigError(f"{spec.name}: the part spec carries no URL")
        part = Part(
            info=spec.info,
            url=spec.url,
            size=spec.size,
            format=spec.format,  # type: ignore[arg-type]
            compression=spec.compression,  # type: ignore[arg-type]
        )
        return _OnePart(spec.provider, part)


def _vendor_codecs() -> dict[str, PartCodec]:
    from streamer.distributed.logisense import LogisenseCodec
    from streamer.distributed.mews import MewsCodec
    from streamer.distributed.rebilly import RebillyCodec

    return {"mews": MewsCodec(), "logisense": LogisenseCodec(), "rebilly": RebillyCodec()}


PART_CODECS: dict[str, PartCodec] = {"urls": UrlCodec(), **_vendor_codecs()}
"""Provider name → how its parts travel; a provider missing here is refused on a cluster."""


def codec_for(provider: str) -> PartCodec:
    codec = PART_CODECS.get(provider)
    if codec is None:
        raise ConfigError(
            f"the {provider} source cannot run on a cluster yet (known: {', '.join(sorted(PART_CODECS))}); "
            "run it without --workers/--scheduler"
        )
    return codec


def rebuild_source(spec: PartSpec) -> Source:
    """The one-part source of ``spec``; its part key must be the one the coordinator saw."""
    source = codec_for(spec.provider).rebuild(spec)
    return _Checked(source, spec.key)


class _Checked:
    """Refuses a rebuilt part whose key differs from the spec's (its checkpoints would not match)."""

    def __init__(self, source: Source, key: str) -> None:
        self.name = source.name
        self._source = source
        self._key = key

    async def parts(self, session: aiohttp.ClientSession) -> AsyncIterator[Part]:
        async for part in self._source.parts(session):
            if part.info.key != self._key:
                raise ConfigError(f"rebuilt part {part.info.key!r} on the worker, expected {self._key!r}")
            yield part
