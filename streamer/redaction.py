"""The one redaction function: what may reach a human, a log or a file.

Text that a server wrote (error bodies, ``Location`` headers) or that an
aiohttp exception embeds (the request URL) may carry credentials: signed
URLs keep theirs in the query string under any name (``X-Amz-Signature``,
``sig``, ``token``, ``Expires``...), and a vendor may echo a token back.
:func:`redact_text` is applied at the boundaries — error constructors
(:class:`~streamer.errors.StreamerError`), log formatters, the state file and
dead letters — so no call site has to remember it.  It is a leaf module
(stdlib only) so that :mod:`streamer.errors` can use it without a cycle.
"""

from __future__ import annotations

import re
import threading
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

MASK = "***"

_secrets: frozenset[str] = frozenset()
_lock = threading.Lock()

_ABSOLUTE_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s\"'<>\\`]+", re.I)
"""Any ``scheme://...`` up to whitespace or a quote."""
_RELATIVE_QUERY = re.compile(r"(?<![\w/.:-])(/[^\s\"'<>?\\`]*)\?[^\s\"'<>\\`]+")
"""A relative reference with a query (``/file.jsonl?sig=...``), as in a relative ``Location``."""
_CREDENTIAL_PARAM = re.compile(
    r"(?i)\b([\w.-]*(?:sig|signature|token|secret|password|passwd|credential|api[_-]?key|apikey|auth|session|expires)"
    r"[\w.-]*)=([^&\s\"'<>;,]+)"
)
"""``name=value`` pairs outside a URL whose name smells of a credential (``token=...`` in prose)."""
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}")
_SECRET_KEYS = re.compile(r"token|secret|password|passwd|authori[sz]ation|api[_-]?key|signature|cookie", re.I)


def redact_url(url: str) -> str:
    """``https://host/path?…`` — the query replaced, userinfo dropped, and the fragment
    dropped after a query or masked when it holds values.

    A URL without a query and with a plain fragment (``.../retry#limits``,
    a link in an error body) is kept as written; ``#access_token=…`` (OAuth's
    implicit flow) is a credential's place.
    """
    try:
        parts = urlsplit(str(url))
        netloc = parts.hostname or ""
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
    except ValueError:
        return "<unparseable url>"
    query = "…" if parts.query else ""
    fragment = "" if parts.query else "…" if "=" in parts.fragment else parts.fragment
    redacted = urlunsplit((parts.scheme, netloc, parts.path, query, fragment))
    if not netloc and str(url).startswith(f"{parts.scheme}://") and not redacted.startswith(f"{parts.scheme}://"):
        redacted = f"{parts.scheme}://{redacted[len(parts.scheme) + 1:]}"  # sqlite:///x: urlunsplit drops the empty authority
    return redacted


def redact_broken_url(url: str) -> str:
    """``url`` without query, fragment and userinfo, cut by string only.

    For a URL too broken to parse (``http://[::1``, a port past 65535), whose
    error message must still name it: :func:`redact_url` can only say
    "<unparseable url>".
    """
    head = url.partition("?")[0].partition("#")[0]
    scheme, sep, rest = head.partition("://")
    authority, slash, path = rest.partition("/")
    return f"{scheme}{sep}{authority.rpartition('@')[2]}{slash}{path}"


def register_secret(value: str | None) -> None:
    """Mask ``value`` (and its URL-encoded form) in everything :func:`redact_text` sees from now on.

    Values shorter than 6 characters are ignored: masking "abc" everywhere
    would mangle messages without protecting anything.
    """
    if not value or len(value) < 6:
        return
    global _secrets
    with _lock:
        _secrets = _secrets | {value, quote(value, safe="")}


def redact_text(text: str) -> str:
    """``text`` with the query of every URL-looking string, credential-like
    ``name=value`` pairs, ``Bearer ...`` values and every registered secret masked."""
    if not isinstance(text, str):
        text = str(text)
    for secret in _secrets:  # first: a secret may also sit in a path or in prose
        if secret in text:
            text = text.replace(secret, MASK)
    if "://" in text:
        text = _ABSOLUTE_URL.sub(_redact_match, text)
    if "?" in text:
        text = _RELATIVE_QUERY.sub(lambda m: f"{m.group(1)}?…", text)
    if "=" in text:
        text = _CREDENTIAL_PARAM.sub(lambda m: f"{m.group(1)}={MASK}", text)
    if " " in text:
        text = _AUTH_SCHEME.sub(lambda m: f"{m.group(1)} {MASK}", text)
    return text


def _redact_match(match: re.Match[str]) -> str:
    url = match.group(0)
    if "?" not in url and "@" not in url and "#" not in url:
        return url
    trailing = ""
    while url and url[-1] in ".,;:)]}":  # sentence punctuation is not part of the URL
        trailing = url[-1] + trailing
        url = url[:-1]
    return redact_url(url) + trailing


def redact_value(value: Any, key: str = "") -> Any:
    """A copy of a JSON-like ``value`` safe to store or show: strings through
    :func:`redact_text`, and any string under a key that names a credential masked."""
    if isinstance(value, str):
        if key and _SECRET_KEYS.search(key):
            return MASK
        return redact_text(value)
    if isinstance(value, dict):
        return {str(k): redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v, key) for v in value]
    return value
