"""Rebilly parts on a cluster: one task per export file, its link signed afresh on the worker.

A Rebilly export is one file — a bare CSV/JSON, or past 1,000,000 records a
ZIP of several members that the ``zip`` decoder reads in order inside the
one part (the engine has no part per member: the members are only known
while the archive streams, and their lines share the file's checkpoint).
So one export is one task, and its ZIP members are streamed by that worker.

The spec carries the API root, the organization id, the data-exports path
and the export id — never the API key or JWT.  The worker reads
``REBILLY_API_KEY`` or ``REBILLY_JWT`` (the CLI's variables; the JWT wins,
as at the CLI) from its own environment and attaches a
:class:`~streamer.providers.rebilly.RebillySource` to that export: the
first signed link, and each one after it expires, comes from the worker's
own ``GET`` of the export.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streamer.distributed.rebuild import vendor_part, worker_environment
from streamer.distributed.specs import PartSpec
from streamer.errors import ConfigError
from streamer.providers.base import Source
from streamer.providers.rebilly import RebillySource
from streamer.records import Part

KEY_VARIABLE = "REBILLY_API_KEY"
JWT_VARIABLE = "REBILLY_JWT"


def _rebilly_source(spec: PartSpec) -> RebillySource:
    config = spec.provider_config
    found = worker_environment("Rebilly", (JWT_VARIABLE,), (KEY_VARIABLE,))
    retry = config["retry"]
    return RebillySource(
        organization_id=config["organization_id"],
        api_key=found.get(KEY_VARIABLE),
        jwt=found.get(JWT_VARIABLE),
        export_ids=[spec.info.export_id or ""],
        base_url=config["base_url"],
        path_prefix=config["path_prefix"],
        retry=retry,
        max_rate_limit_wait=retry.max_retry_after,
    )


class RebillyCodec:
    def describe(self, source: Source, part: Part) -> tuple[str | None, Mapping[str, Any]]:
        assert isinstance(source, RebillySource)
        if source.incremental is not None:
            raise ConfigError(
                "an incremental Rebilly run keeps its bookmark in --state, which a cluster run has not; "
                "run it without --workers/--scheduler"
            )
        return None, {
            "base_url": source.base_url,
            "organization_id": source.organization_id,
            "path_prefix": source.path_prefix,
            "retry": source.retry,
        }

    def rebuild(self, spec: PartSpec) -> Source:
        return vendor_part(spec, _rebilly_source, vendor="Rebilly", export_id="export id")
