"""HTTP plumbing shared by the data plane and the providers' control planes."""

from streamer.http.redact import redact_url
from streamer.http.responses import raise_for_response, request_id_of, retry_after_of
from streamer.http.retry import RetryPolicy
from streamer.http.session import HTTPConfig, open_session

__all__ = [
    "HTTPConfig",
    "RetryPolicy",
    "open_session",
    "raise_for_response",
    "redact_url",
    "request_id_of",
    "retry_after_of",
]
