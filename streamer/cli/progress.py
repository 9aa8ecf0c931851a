"""Progress on stderr (tqdm), only when stderr is a terminal.

One total bar and one bar per part being downloaded (at most
``max_part_bars``; a part's bar goes away when it is done).  Bars are redrawn
from :class:`RunStats` every ``interval`` seconds by a task of their own:
the hot path never touches them.

The display only claims what it knows:

* the total is the sum of every part's size (announced by the export, or
  by the first response: ``Content-Length``/``Content-Range``) once the
  source has named all its parts — never a sum that grows while parts are
  discovered; until then it reads ``?`` and shows no percentage or ETA;
* records are shown against the vendor's count when every part has one
  (LogiSense ``exportRowCount``, Rebilly ``recordCount``; Mews gives none),
  the percentage staying by bytes;
* rates are averages since a bar appeared, counted from the bytes it had
  then, so a part first drawn with megabytes already received does not
  show gigabytes per second;
* everything else written to stderr while the bars are up — log lines,
  ``click.echo(err=True)`` notices — goes above the bars through tqdm's lock
  (:class:`_AboveTheBars`), never through them.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, TextIO

import anyio

from streamer.assembly import PartStats, RunStats, plural, records_text

_KNOWN_TOTAL = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"
_UNKNOWN_TOTAL = "{desc}: {n_fmt}/? [{elapsed}, {rate_fmt}{postfix}]"
_BAR_OPTIONS: dict[str, Any] = {
    "unit": "B", "unit_scale": True, "unit_divisor": 1024, "dynamic_ncols": True, "leave": False, "smoothing": 0,
}


class ProgressDisplay:
    """The bars; :meth:`refresh` syncs them with the stats (called periodically)."""

    def __init__(self, stats: RunStats, *, file: TextIO | None = None, max_part_bars: int = 8) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self.stats = stats
        self.file = file if file is not None else sys.stderr
        self.max_part_bars = max_part_bars
        self.total = tqdm(
            desc="total", initial=stats.bytes, file=self.file, position=0, bar_format=_UNKNOWN_TOTAL,
            postfix=self._total_postfix(stats, 1.0), **_BAR_OPTIONS,
        )
        self.parts: dict[str, Any] = {}
        self._rows: dict[str, int] = {}
        self._free_rows = list(range(max_part_bars, 0, -1))
        self._started = time.monotonic()

    def refresh(self) -> None:
        stats = self.stats
        self._refresh_total(stats)
        for key, part in stats.parts.items():
            self._refresh_part(key, part)

    def _refresh_total(self, stats: RunStats) -> None:
        bar = self.total
        expected = stats.expected_bytes
        if expected is not None and expected < stats.bytes:
            expected = None  # retries re-read bytes: past the announced total, a percentage would lie
        bar.total = expected
        bar.bar_format = _KNOWN_TOTAL if expected is not None else _UNKNOWN_TOTAL
        bar.update(stats.bytes - bar.n)  # update(), not n=: tqdm derives rate and ETA from it
        bar.set_postfix_str(self._total_postfix(stats, time.monotonic() - self._started), refresh=False)
        bar.refresh()

    @staticmethod
    def _total_postfix(stats: RunStats, elapsed: float) -> str:
        done = sum(1 for p in stats.parts.values() if p.done)
        parts_total = "?" if stats.discovering else str(len(stats.parts))
        rate = stats.records / elapsed if elapsed >= 1.0 else 0.0  # no rate from a blink
        text = f"{stats.records_text()} ({rate:,.0f}/s), parts {done}/{parts_total}"
        if stats.retries:
            text += f", {plural(stats.retries, 'retry', 'retries')}"
        return text

    def _refresh_part(self, key: str, part: PartStats) -> None:
        bar = self.parts.get(key)
        if part.done:
            if bar is not None:
                self._free_rows.append(self._rows.pop(key))
                bar.close()
                del self.parts[key]
            return
        if bar is None:
            if not self._free_rows or part.bytes == 0:
                return
            row = self._rows[key] = self._free_rows.pop()
            bar = self.parts[key] = self._tqdm(
                desc=part.name[:40], total=part.size, initial=part.bytes, file=self.file, position=row,
                **_BAR_OPTIONS,
            )
        if part.size is not None and bar.total != part.size and part.size >= part.bytes:
            bar.total = part.size
        bar.update(part.bytes - bar.n)
        bar.set_postfix_str(records_text(part.records, part.expected_records), refresh=False)
        bar.refresh()

    def close(self) -> None:
        for bar in self.parts.values():
            bar.close()
        self.parts.clear()
        self._rows.clear()
        self.total.close()


class _AboveTheBars:
    """A stand-in for ``sys.stderr`` that writes whole lines above the bars, under tqdm's lock.

    Text is held until its newline (``print`` writes the newline separately):
    a bar redrawn between the two would leave the line's end on the bar.
    """

    def __init__(self, stream: TextIO, tqdm_class: Any) -> None:
        self._stream = stream
        self._tqdm = tqdm_class
        self._pending = ""

    def write(self, text: str) -> int:
        lines, newline, rest = (self._pending + text).rpartition("\n")
        self._pending = rest
        if newline:
            self._emit(lines + newline)
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._emit(self._pending + "\n")
            self._pending = ""
        self._stream.flush()

    def _emit(self, text: str) -> None:
        with self._tqdm.external_write_mode(file=self._stream):
            self._stream.write(text)
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def _stderr_above(display: ProgressDisplay) -> Iterator[None]:
    """Route ``sys.stderr`` (log handlers, click.echo) above the bars while they are shown."""
    if display.file is not sys.stderr:
        yield
        return
    original = sys.stderr
    proxy = _AboveTheBars(original, display._tqdm)
    sys.stderr = proxy  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stderr = original
        if proxy._pending:
            proxy.flush()


@contextlib.asynccontextmanager
async def progress_bar(
    stats: RunStats,
    *,
    enabled: bool,
    interval: float = 0.25,
    file: TextIO | None = None,
    max_part_bars: int = 8,
) -> AsyncIterator[None]:
    if not enabled:
        yield
        return
    display = ProgressDisplay(stats, file=file, max_part_bars=max_part_bars)

    async def refresh() -> None:
        while True:
            display.refresh()
            await anyio.sleep(interval)

    failure: BaseException | None = None
    try:
        with _stderr_above(display):
            async with anyio.create_task_group() as tg:
                tg.start_soon(refresh)
                try:
                    yield
                except BaseException as exc:
                    failure = exc
                    raise
                finally:
                    tg.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # The run's own error, not wrapped in the bars' task group: the CLI reports a
        # StreamerError in one line (a group would escape it as a traceback).
        if failure is not None and group.exceptions == (failure,):
            raise failure from None
        raise
    finally:
        display.refresh()
        display.close()
