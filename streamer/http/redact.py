"""Keep secrets out of logs, errors and state files (HTTP-side names).

The mechanism lives in :mod:`streamer.redaction` (a stdlib-only leaf, so that
:mod:`streamer.errors` can apply it to every message); this module keeps the
names the HTTP layer and the providers import.
"""

from streamer.redaction import redact_text, redact_url, redact_value, register_secret

__all__ = ["redact_text", "redact_url", "redact_value", "register_secret"]
