"""HMAC-signed, expiring download links, as object stores hand out.

An expired link is answered like S3 answers it: 403 with an XML body
``<Code>AccessDenied</Code><Message>Request has expired</Message>``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlencode


class UrlSigner:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def query(self, path: str, ttl: float, *, now: float | None = None) -> str:
        expires_text = f"{(time.time() if now is None else now) + ttl:.3f}"
        return urlencode({"expires": expires_text, "sig": self._sign(path, expires_text)})

    def check(self, path: str, expires: str | None, sig: str | None) -> str | None:
        """``None`` if the link is valid, else the S3 error code and message."""
        if not expires or not sig:
            return "AccessDenied|Query-string authentication requires the signature and expiry"
        if not hmac.compare_digest(self._sign(path, expires), sig):
            return "SignatureDoesNotMatch|The request signature we calculated does not match"
        try:
            deadline = float(expires)
        except ValueError:
            return "AccessDenied|Invalid expiry"
        if time.time() > deadline:
            return "AccessDenied|Request has expired"
        return None

    def _sign(self, path: str, expires: str) -> str:
        return hmac.new(self._secret, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()


def s3_error_xml(code: str, message: str, request_id: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>{request_id}</RequestId></Error>"
    ).encode()
