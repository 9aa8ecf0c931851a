"""Make a state document safe to write: no signed-URL queries, no tokens.

The state file outlives the run and is read by humans and backup tools, so
everything that goes into it passes through :func:`scrub`, which is
:func:`streamer.redaction.redact_value`: the same redaction as errors and logs.
"""

from streamer.redaction import redact_text as scrub_text
from streamer.redaction import redact_value as scrub

__all__ = ["scrub", "scrub_text"]
