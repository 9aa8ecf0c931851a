"""Retry with exponential backoff and jitter, honouring the server's Retry-After.

The loop machinery is tenacity's; what is ours is the policy: the budget
counts attempts *without progress*, so a multi-hour download that survives
twenty dropped connections, each after megabytes of progress, is not failed
for having retried "too often", while a server that keeps failing at the same
byte is given up on after ``max_attempts``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import tenacity

from streamer.errors import RetryableHTTPError, describe_exception

log = logging.getLogger("streamer.retry")

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientPayloadError,
    aiohttp.ClientConnectionError,  # includes ServerDisconnectedError and socket timeouts
    TimeoutError,
    RetryableHTTPError,
)
FINAL_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientSSLError,)
"""Connection errors that another attempt cannot fix (an untrusted certificate)."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    """Consecutive failed attempts (without progress in between) before giving up."""
    initial_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.5
    """Up to this many extra seconds of random jitter per wait."""
    max_retry_after: float = 300.0
    """Longest server-requested wait honoured; longer hints are capped."""

    def backoff(self, failures: int) -> float:
        """Seconds before retry number ``failures`` (1-based): doubling, capped, jittered."""
        exponent = min(max(failures - 1, 0), 32)
        return min(self.max_delay, self.initial_delay * 2**exponent) + random.uniform(0, self.jitter)

    def retrying(
        self,
        *,
        progress: Callable[[], int] | None = None,
        on_retry: Callable[[BaseException, float], None] | None = None,
        retry_on: tuple[type[BaseException], ...] = TRANSIENT_ERRORS,
    ) -> tenacity.AsyncRetrying:
        """An ``async for attempt in ...`` loop for one operation.

        ``progress`` returns a counter (bytes delivered) that, when it moved
        since the previous failure, resets the attempt budget and the backoff.
        """
        budget = _ProgressBudget(progress)

        # tenacity asks for the wait before the stop decision, so the failure
        # is counted here and ``stop`` only reads the count.
        def wait(state: tenacity.RetryCallState) -> float:
            failures = budget.record_failure()
            hint = getattr(_failure(state), "retry_after", None)
            if hint is not None:
                return min(float(hint), self.max_retry_after)
            return self.backoff(failures)

        def stop(state: tenacity.RetryCallState) -> bool:
            return budget.failures >= self.max_attempts

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc, delay = _failure(state), state.next_action.sleep  # type: ignore[union-attr]  # set by now
            if on_retry is not None:
                on_retry(exc, delay)
            log.info("retrying in %.1fs after %s", delay, describe_exception(exc))

        return tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception(
                lambda exc: isinstance(exc, retry_on) and not isinstance(exc, FINAL_ERRORS)
            ),
            wait=wait,
            stop=stop,
            before_sleep=before_sleep,
            reraise=True,
        )


class _ProgressBudget:
    """Counts consecutive failures, reset whenever the progress counter moved."""

    def __init__(self, progress: Callable[[], int] | None) -> None:
        self._progress = progress
        self._mark: int | None = None
        """The progress at the last failure (the first failure resets a count that is 0 anyway)."""
        self.failures = 0

    def record_failure(self) -> int:
        if self._progress is not None:
            now = self._progress()
            if now != self._mark:
                self._mark = now
                self.failures = 0
        self.failures += 1
        return self.failures


def _failure(state: tenacity.RetryCallState) -> BaseException:
    """The exception of the attempt that just failed.

    tenacity calls ``wait`` and ``before_sleep`` only after an attempt failed
    with an exception ``retry`` accepted, so there is always one.
    """
    assert state.outcome is not None
    exc = state.outcome.exception()
    assert exc is not None
    return exc
