"""Keep secrets out of logs, errors and state files.

Signed URLs carry their credentials in the query string (S3's
``X-Amz-Signature``, Azure's ``sig``, our simulator's ``sig``): anything shown
to a human keeps scheme, host and path and replaces the query.  Tokens that a
provider registers are masked wherever they appear in a message.
"""

from __future__ import annotations

import threading
from urllib.parse import urlsplit, urlunsplit

_secrets: set[str] = set()
_lock = threading.Lock()


def redact_url(url: str) -> str:
    """``https://host/path?…`` — the query (and any userinfo) replaced."""
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return "<unparseable url>"
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    query = "…" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def register_secret(value: str | None) -> None:
    """Mask ``value`` in every message passed through :func:`redact_text` from now on."""
    if value and len(value) >= 6:
        with _lock:
            _secrets.add(value)


def redact_text(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text
