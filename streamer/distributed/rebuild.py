"""What every vendor's rebuild on a worker shares: its secrets from the environment, its one part.

A worker rebuilds a vendor source from a spec's non-secret settings and
credentials in *its own* environment (:func:`worker_environment`), then takes
from that source the one part the spec names (:func:`the_part`), numbered as
the coordinator numbered it so its key — checkpoints, lease, task — matches.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace

import aiohttp

from streamer.distributed.specs import PartSpec
from streamer.errors import ConfigError, ExportError
from streamer.providers.base import Source
from streamer.records import Part


def worker_environment(vendor: str, *alternatives: tuple[str, ...]) -> dict[str, str]:
    """The variables of the first complete group of ``alternatives`` in this worker's environment.

    Refuses in one line, naming every group, when none is complete: a
    vendor's credentials reach workers only through their environment.
    """
    for names in alternatives:
        values = {name: os.environ.get(name, "") for name in names}
        if all(values.values()):
            return values
    wanted = ", or ".join(" and ".join(names) for names in alternatives)
    raise ConfigError(f"this worker's environment lacks {wanted} ({vendor} credentials reach workers only so)")


async def the_part(source: Source, session: aiohttp.ClientSession, spec: PartSpec) -> AsyncIterator[Part]:
    """Yield the single part of a source rebuilt for ``spec``, with the coordinator's index."""
    async with contextlib.aclosing(source.parts(session)) as parts:  # type: ignore[type-var]
        async for part in parts:
            yield replace(part, info=replace(part.info, index=spec.info.index))
            return
    raise ExportError(f"{spec.name}: the rebuilt {spec.provider} source has no part on this worker")


@dataclass(frozen=True)
class VendorPart:
    """A vendor source built on the worker (``build``, from the spec and this worker's environment),
    narrowed to the spec's one part.  Built when the engine asks for parts, not when the task starts."""

    name: str
    spec: PartSpec
    build: Callable[[PartSpec], Source]

    async def parts(self, session: aiohttp.ClientSession) -> AsyncIterator[Part]:
        async for part in the_part(self.build(self.spec), session, self.spec):
            yield part


def vendor_part(spec: PartSpec, build: Callable[[PartSpec], Source], *, vendor: str, export_id: str) -> VendorPart:
    """The :class:`VendorPart` of ``spec``; refuses a spec without the export id (``export_id`` names
    it as the vendor does), which is all a worker has to find the coordinator's export by."""
    if spec.info.export_id is None:
        raise ConfigError(f"{spec.name}: a {vendor} part spec needs its {export_id}")
    return VendorPart(spec.provider, spec, build)
