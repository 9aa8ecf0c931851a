"""Mews parts on a cluster: the worker re-attaches to the export the coordinator created.

The spec carries the platform URL, the client name, the export id, the
file index and the export request (entity type, scope, dates) — never a
token.  The worker reads ``MEWS_CLIENT_TOKEN`` and ``MEWS_ACCESS_TOKEN``
from its own environment, checks with one ``exports/getAll`` that the
export is still Success (a worker never creates an export), then takes
that file from a :class:`~streamer.providers.mews.MewsSource` attached to
the export: its URL is re-signed by that source's own refresher, through
``getAll``, on the worker, as often as it expires.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import Any

import aiohttp

from streamer.distributed.rebuild import worker_environment
from streamer.distributed.specs import PartSpec
from streamer.errors import ConfigError, ExportError
from streamer.providers.base import Source
from streamer.providers.mews import MewsSource
from streamer.providers.mews.client import MewsClient, MewsCredentials
from streamer.providers.mews.lifecycle import SUCCESS, ExportLifecycle
from streamer.records import Part

TOKEN_VARIABLES = ("MEWS_CLIENT_TOKEN", "MEWS_ACCESS_TOKEN")


class MewsCodec:
    def describe(self, source: Source, part: Part) -> tuple[str | None, Mapping[str, Any]]:
        assert isinstance(source, MewsSource)
        request = next(r for r in source.requests if r.entity_type == part.info.entity_type)
        return None, {
            "platform_url": source.credentials.platform_url,
            "client": source.credentials.client,
            "url_ttl": source.url_ttl,
            "retry": source.retry,
            "poll": source.poll,
            "request": request,
        }

    def rebuild(self, spec: PartSpec) -> Source:
        return _MewsPart(spec)


def _credentials(config: Mapping[str, Any]) -> MewsCredentials:
    client_token, access_token = worker_environment("Mews", TOKEN_VARIABLES).values()
    return MewsCredentials(config["platform_url"], client_token, access_token, config["client"])


class _MewsPart:
    name = "mews"

    def __init__(self, spec: PartSpec) -> None:
        if spec.info.export_id is None or spec.info.entity_type is None:
            raise ConfigError(f"{spec.name}: a Mews part spec needs its export id and entity type")
        self.spec = spec

    async def parts(self, session: aiohttp.ClientSession) -> AsyncIterator[Part]:
        spec, config = self.spec, self.spec.provider_config
        credentials = _credentials(config)
        export_id, entity = spec.info.export_id, spec.info.entity_type
        assert export_id is not None and entity is not None
        check = ExportLifecycle(MewsClient(credentials, session, retry=config["retry"]), [config["request"]])
        export = (await check.get_all([export_id])).get(export_id)
        if export is None or export.status != SUCCESS:
            status = export.status if export is not None else "unknown to Mews"
            raise ExportError(f"Mews {entity} export {export_id} is {status}; rerun the coordinator for a new one")
        request = config["request"]
        source = MewsSource(
            platform_url=credentials.platform_url,
            client_token=credentials.client_token,
            access_token=credentials.access_token,
            client=credentials.client,
            entity_types=[entity],
            enterprise_ids=request.enterprise_ids,
            chain_ids=request.chain_ids,
            updated_from=request.updated_from,
            updated_to=request.updated_to,
            posting_from=request.posting_from,
            posting_to=request.posting_to,
            known_exports={entity: export_id},
            poll=replace(config["poll"], reuse_known=True),
            url_ttl=config["url_ttl"],
            retry=config["retry"],
        )
        async with contextlib.aclosing(source.parts(session)) as parts:
            async for part in parts:
                if part.info.index == spec.info.index:
                    yield part
                    return
        raise ExportError(f"Mews {entity} export {export_id} has no file {spec.info.index + 1}")
