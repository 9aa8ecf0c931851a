"""Rebilly data exports: create/attach/list, poll, and stream csv, json, json-api and ZIPs of parts."""

from streamer.providers.rebilly.api import DEFAULT_PREFIX, LIVE_URL, SANDBOX_URL, RebillyApi
from streamer.providers.rebilly.auth import RebillyAuth
from streamer.providers.rebilly.problems import problem_text, raise_for_problem
from streamer.providers.rebilly.source import DateRange, ExportRequest, Recurring, RebillySource, check_format

__all__ = [
    "DEFAULT_PREFIX",
    "LIVE_URL",
    "SANDBOX_URL",
    "DateRange",
    "ExportRequest",
    "RebillyApi",
    "RebillyAuth",
    "RebillySource",
    "Recurring",
    "check_format",
    "problem_text",
    "raise_for_problem",
]
