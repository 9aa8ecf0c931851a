"""One aiohttp session per run, configured for long streaming downloads.

aiohttp's default ``ClientTimeout(total=300)`` kills any download longer than
five minutes; streamer uses no total timeout, a connect timeout, and a read
*inactivity* timeout so a stalled server is detected whatever the file size.
Decompression is done by the engine (``auto_decompress=False``) so that it can
count raw bytes for ``Range`` resumes.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from streamer._version import __version__


@dataclass(frozen=True)
class HTTPConfig:
    connect_timeout: float = 30.0
    read_timeout: float = 120.0
    """Seconds without a single byte before a request is abandoned and retried."""
    verify_tls: bool = True
    user_agent: str = f"streamer/{__version__}"
    read_bufsize: int = 1 << 18
    """aiohttp's per-response buffer; reading pauses the socket at twice this."""
    max_connections: int = 32


def open_session(config: HTTPConfig | None = None) -> aiohttp.ClientSession:
    """A session the caller owns and must close (``async with``)."""
    config = config or HTTPConfig()
    connector = aiohttp.TCPConnector(
        limit=config.max_connections,
        ssl=None if config.verify_tls else False,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(
            total=None, sock_connect=config.connect_timeout, sock_read=config.read_timeout
        ),
        auto_decompress=False,
        read_bufsize=config.read_bufsize,
        headers={"User-Agent": config.user_agent},
        raise_for_status=False,
    )

