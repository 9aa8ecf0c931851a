"""LogiSense parts on a cluster: the worker re-signs its 30-second S3 link through the provider.

The spec carries the resource server's base URL, the login URL, the OAuth
client id (an identifier, not a secret), the DataExportHistory id, the part
index and the CSV settings — never a user, password or client secret.  The
worker logs in with ``LOGISENSE_USERNAME`` and ``LOGISENSE_PASSWORD``, or
``LOGISENSE_CLIENT_SECRET`` (the CLI's variables), from its own environment,
and streams that history row through a
:class:`~streamer.providers.logisense.LogisenseSource` given only its id: it
never triggers or cancels an export, and each expired link is asked again
from ``History/{id}/Download`` on the worker.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from streamer.distributed.rebuild import vendor_part, worker_environment
from streamer.distributed.specs import PartSpec
from streamer.errors import ConfigError
from streamer.providers.base import Source
from streamer.providers.logisense import LogisenseSource
from streamer.records import Part

USER_VARIABLES = ("LOGISENSE_USERNAME", "LOGISENSE_PASSWORD")
SECRET_VARIABLES = ("LOGISENSE_CLIENT_SECRET",)
CLIENT_ID_VARIABLE = "LOGISENSE_CLIENT_ID"
"""Overrides the client id the spec carries, as ``--client-id``'s variable does at the CLI."""


def _logisense_source(spec: PartSpec) -> LogisenseSource:
    config = spec.provider_config
    found = worker_environment("LogiSense", USER_VARIABLES, SECRET_VARIABLES)
    return LogisenseSource(
        base_url=config["base_url"],
        auth_url=config["login_url"],
        client_id=os.environ.get(CLIENT_ID_VARIABLE) or config["client_id"],
        username=found.get("LOGISENSE_USERNAME"),
        password=found.get("LOGISENSE_PASSWORD"),
        client_secret=found.get("LOGISENSE_CLIENT_SECRET"),
        history_ids=[int(spec.info.export_id or 0)],
        cancel_on_abort=False,  # the coordinator's export, not this worker's
        url_ttl=config["url_ttl"],
        check_row_count=config["check_row_count"],
        status_names=config["status_names"],
        csv_options=config["csv_options"],
        poll_interval=config["poll_interval"],
        timeout=config["timeout"],
        retry=config["retry"],
    )


class LogisenseCodec:
    def describe(self, source: Source, part: Part) -> tuple[str | None, Mapping[str, Any]]:
        assert isinstance(source, LogisenseSource)
        if part.info.export_id is None:
            raise ConfigError(f"{part.info.describe()}: a LogiSense part without its DataExportHistory id")
        return None, {
            "base_url": source.base_url,
            "login_url": source.auth.login_url,
            "client_id": source.auth.client_id,
            "url_ttl": source.url_ttl,
            "check_row_count": source.check_row_count,
            "status_names": dict(source.status_names),
            "csv_options": dict(source.csv_options),
            "poll_interval": source.poll_interval,
            "timeout": source.timeout,
            "retry": source.retry,
        }

    def rebuild(self, spec: PartSpec) -> Source:
        return vendor_part(spec, _logisense_source, vendor="LogiSense", export_id="DataExportHistory id")
