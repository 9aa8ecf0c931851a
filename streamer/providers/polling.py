"""One polling policy for every provider: a growing interval, a cap, and a deadline.

Every vendor here starts an export and leaves the client to ask until it is
done.  The three lifecycles (Mews, LogiSense, Rebilly) wait the same way:

* the first wait is ``initial`` seconds, each next one ``factor`` times longer,
  never longer than ``cap`` (so a small export is picked up quickly and a
  long one is not hammered);
* the **deadline** is the total wall time since the export was *created*
  (by this run; for an export this run did not create, since this run first
  saw it — a server's timestamps are evidence, and its clock is not ours).
  The last poll happens at the deadline, not one interval before it; a poll
  that still finds the export running after it raises
  :class:`~streamer.errors.ExportTimeoutError` naming the export id.

Waits are shortened so that a deadline is noticed when it passes.  The clock
and the sleep are injectable, so a test can run an hour-long schedule on a
fake clock in no time.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import anyio

from streamer.errors import ExportTimeoutError

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[object]]
_EPSILON = 0.001
"""Seconds slept past a deadline, so that the poll after it sees it passed."""


monotonic: Clock = time.monotonic
"""The default clock: the one the engine dates signed URLs with (asyncio's and trio's loops use it too)."""


@dataclass(frozen=True)
class PollSchedule:
    """How long to wait between polls, and for how long in all."""

    initial: float
    """Seconds before the first poll."""
    factor: float
    """Each next wait is this many times the previous one (1 = a fixed interval)."""
    cap: float
    """The longest wait between two polls."""
    deadline: float
    """Seconds an export may take, counted from its creation (see the module docstring)."""

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.cap < self.initial:
            raise ValueError("poll intervals must be positive, and the cap at least the first interval")
        if self.factor < 1:
            raise ValueError("the poll backoff factor must be at least 1")
        if self.deadline <= 0:
            raise ValueError("the export deadline must be positive")

    def intervals(self) -> Iterator[float]:
        """The waits, in order: ``initial``, ``initial * factor``, … up to ``cap``, then ``cap`` forever."""
        interval = self.initial
        while True:
            yield interval
            interval = min(self.cap, interval * self.factor)

    def deadline_for(self, export_id: str, what: str, *, started_at: float | None = None,
                     clock: Clock = monotonic) -> Deadline:
        """The deadline of one export, counted from ``started_at`` (default: now)."""
        return Deadline(self.deadline, export_id, what, clock() if started_at is None else started_at, clock)

    def poller(self, export_id: str, what: str, *, started_at: float | None = None,
               clock: Clock = monotonic, sleep: Sleep = anyio.sleep) -> Poller:
        """The waits of one export: ``await poller.wait(status)`` between two polls."""
        return Poller(self, self.deadline_for(export_id, what, started_at=started_at, clock=clock), sleep)


@dataclass
class Deadline:
    """The moment an export must be done by: ``seconds`` after ``started_at`` on ``clock``."""

    seconds: float
    export_id: str
    what: str
    """How the export is named in the error, e.g. ``"Rebilly data export"``."""
    started_at: float
    clock: Clock = monotonic

    def elapsed(self) -> float:
        return self.clock() - self.started_at

    def remaining(self) -> float:
        return self.seconds - self.elapsed()

    def check(self, status: object, hint: str = "") -> None:
        """Raise :class:`ExportTimeoutError` if the export is still ``status`` past the deadline."""
        if self.elapsed() < self.seconds:
            return
        raise ExportTimeoutError(
            f"{self.what} {self.export_id} is still {status} after {self.seconds:g}s "
            "(the deadline, counted since it was created)" + (f"; {hint}" if hint else "")
        )


class Poller:
    """The schedule of one export's polls, against its deadline."""

    def __init__(self, schedule: PollSchedule, deadline: Deadline, sleep: Sleep = anyio.sleep) -> None:
        self.schedule = schedule
        self.deadline = deadline
        self._intervals = schedule.intervals()
        self._sleep = sleep
        self.waits: list[float] = []
        """Every wait so far, in seconds (for logs and tests)."""

    async def wait(self, status: object, hint: str = "") -> None:
        """The export is still ``status``: raise past the deadline, else sleep until the next poll."""
        self.deadline.check(status, hint)
        wait = max(0.0, min(next(self._intervals), self.deadline.remaining() + _EPSILON))
        self.waits.append(wait)
        await self._sleep(wait)
