"""A client-side sliding-window rate limiter: at most N requests in any window.

Mews allows 200 requests per AccessToken in any 30-second window.  A leaky
bucket would smooth requests out and still let a burst straddle the window
edge; a sliding *log* of send times never lets the 201st request of any 30 s
span leave.  One limiter is shared by every client using the same access
token in the process (:func:`limiter_for`), since the quota is per token, not
per connection.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable

import anyio

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[object]]
_EPSILON = 1e-6


class SlidingWindowLimiter:
    """``await limiter.acquire()`` before each request; waits while the window is full."""

    def __init__(
        self,
        max_requests: int = 200,
        window: float = 30.0,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = anyio.sleep,
    ) -> None:
        if max_requests < 1 or window <= 0:
            raise ValueError("a rate limit needs max_requests >= 1 and a positive window")
        self.max_requests = max_requests
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self.waited = 0.0
        """Total seconds callers spent waiting for the window (for stats and tests)."""

    def _prune(self, now: float) -> None:
        horizon = now - self.window
        while self._sent and self._sent[0] <= horizon:
            self._sent.popleft()

    def in_window(self) -> int:
        """Requests sent during the last ``window`` seconds."""
        self._prune(self._clock())
        return len(self._sent)

    def delay(self) -> float:
        """Seconds until one more request may leave (0 when it may leave now)."""
        now = self._clock()
        self._prune(now)
        if len(self._sent) < self.max_requests:
            return 0.0
        # Never 0 while full: float rounding may leave the oldest request a hair
        # inside the window; waiting a microsecond more lets it age out.
        return max(_EPSILON, self._sent[0] + self.window - now)

    async def acquire(self) -> None:
        # Check-and-record has no await in between, so concurrent tasks of one
        # event loop cannot both take the last slot; no lock is needed.
        while True:
            wait = self.delay()
            if wait == 0:
                self._sent.append(self._clock())
                return
            self.waited += wait
            await self._sleep(wait)


_LIMITERS: dict[str, SlidingWindowLimiter] = {}
_LOCK = threading.Lock()


def limiter_for(access_token: str, max_requests: int = 200, window: float = 30.0) -> SlidingWindowLimiter:
    """The process-wide limiter of one access token (keyed by a hash, not the token)."""
    key = hashlib.sha256(access_token.encode()).hexdigest()
    with _LOCK:
        limiter = _LIMITERS.get(key)
        if limiter is None:
            limiter = _LIMITERS[key] = SlidingWindowLimiter(max_requests, window)
        return limiter


def reset_limiters() -> None:
    """Forget every shared limiter (tests; a long-lived worker rotating tokens)."""
    with _LOCK:
        _LIMITERS.clear()
