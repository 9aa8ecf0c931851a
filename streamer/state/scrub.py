"""Make a state document safe to write: no signed-URL queries, no tokens.

The state file outlives the run and is read by humans and backup tools, so
everything that goes into it passes through :func:`scrub`: any string that
is an http(s) URL loses its query (the signature lives there), any value
under a key that names a credential is masked, and registered secrets are
masked wherever they appear.
"""

from __future__ import annotations

import re
from typing import Any

from streamer.http.redact import redact_text, redact_url

_SECRET_KEYS = re.compile(r"token|secret|password|passwd|authori[sz]ation|api[_-]?key|signature|cookie", re.I)
_URL = re.compile(r"https?://[^\s\"'<>]+", re.I)


def scrub(value: Any, key: str = "") -> Any:
    """A copy of ``value`` (JSON-like) with credentials removed."""
    if isinstance(value, str):
        if key and _SECRET_KEYS.search(key):
            return "***"
        return scrub_text(value)
    if isinstance(value, dict):
        return {str(k): scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v, key) for v in value]
    return value


def scrub_text(text: str) -> str:
    """``text`` with URL queries cut and registered secrets masked."""
    if "://" in text:
        text = _URL.sub(lambda m: redact_url(m.group(0)) if "?" in m.group(0) else m.group(0), text)
    return redact_text(text)
