"""Rebilly credentials: a secret API key (``REB-APIKEY``) or a JWT (``Authorization: Bearer``)."""

from __future__ import annotations

from dataclasses import dataclass

from streamer.errors import ConfigError
from streamer.http.redact import register_secret


@dataclass(frozen=True)
class RebillyAuth:
    """Exactly one of ``api_key`` and ``jwt``; both are masked in every message from now on."""

    api_key: str | None = None
    jwt: str | None = None

    def __post_init__(self) -> None:
        if bool(self.api_key) == bool(self.jwt):
            raise ConfigError("Rebilly needs exactly one credential: a secret API key or a JWT")
        register_secret(self.api_key)
        register_secret(self.jwt)

    def headers(self) -> dict[str, str]:
        if self.api_key:
            return {"REB-APIKEY": self.api_key}
        return {"Authorization": f"Bearer {self.jwt}"}

    def __repr__(self) -> str:  # never print the secret
        kind = "api_key" if self.api_key else "jwt"
        return f"RebillyAuth({kind}=***)"
