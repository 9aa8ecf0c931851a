"""One run, assembled in one place: the front door of the library and the CLI.

A :class:`RunPlan` owns everything about a run except the records: the sink
(or its URL), the engine configuration, the state store and **the decision
whether and how to resume** (:func:`plan_resume`, the only place it is
made), the signals that stop a run gracefully, the progress hooks and
display, and the memory of the exports a provider created
(:attr:`RunPlan.exports`).  ``streamer.run``, ``run_sync``, ``stream`` and
every CLI command build one; the CLI only parses options into it and maps the
outcome to an exit code.

The plan is built before the source because a provider needs the plan's
export memory to be built (``MewsSource(known_exports=plan.exports.known("mews"))``).
"""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import anyio

from streamer.engine.config import StreamConfig
from streamer.errors import ConfigError
from streamer.engine.stats import PartStats, RunStats, plural, records_text
from streamer.providers.base import IncrementalSource, Source
from streamer.records import Checkpoint
from streamer.sinks.base import Sink, capabilities_of
from streamer.sinks.registry import resolve_sink
from streamer.state import StateStore, open_state, tracked_run

if TYPE_CHECKING:
    import aiohttp

    from streamer.engine.runner import CheckpointHook, ProgressHook

Resume = bool | Literal["auto"] | None
"""``None`` (the library's default): resume from ``state`` when one is given.
``True``: resume, from ``state`` or else from the checkpoints the sink commits
(an error when there is neither).  ``False``: start over, even on an old
state.  ``"auto"`` (the CLI's): from ``state`` when given, else from the sink's
committed checkpoints when it commits them, else start fresh."""

Display = Callable[[RunStats], AbstractAsyncContextManager[Any]]
"""Shows a run's progress while it lasts (the CLI's progress bars)."""

__all__ = ["Display", "ExportMemory", "PartStats", "Resume", "ResumePlan", "RunPlan", "RunStats", "plural",
           "records_text", "StreamConfig", "plan_resume"]


@dataclass(frozen=True, slots=True)
class ResumePlan:
    """How one run starts: the outcome of :func:`plan_resume`."""

    store: StateStore | None
    """Records acknowledged progress (and is resumed from when :attr:`from_store`)."""
    from_store: bool
    checkpoints: dict[str, Checkpoint] | None
    """For a run without a store: ``None`` starts fresh; a dict (even empty)
    resumes from it, replaced by the sink's own when it commits checkpoints."""


def plan_resume(
    sink: Sink,
    *,
    state: StateStore | str | os.PathLike[str] | None,
    resume: Resume,
    checkpoints: Mapping[str, Checkpoint] | None = None,
) -> ResumePlan:
    """Whether and how a run resumes: decided here and nowhere else."""
    store = open_state(state)
    if store is not None:
        if checkpoints is not None:
            raise TypeError("pass either state= or checkpoints=, not both")
        return ResumePlan(store, from_store=resume is not False, checkpoints=None)
    commits = capabilities_of(sink).commits_checkpoints
    if resume is True and not commits:
        raise TypeError("resume=True needs state= (a path or a StateStore) to resume from")
    if resume is True or (resume == "auto" and commits):
        return ResumePlan(None, from_store=False, checkpoints=dict(checkpoints or {}))
    if resume is False:
        return ResumePlan(None, from_store=False, checkpoints=None)
    return ResumePlan(None, from_store=False, checkpoints=None if checkpoints is None else dict(checkpoints))


class ExportMemory:
    """The exports a provider created, kept in the run's state so a rerun reuses them.

    Without a state store it remembers nothing (and :attr:`persistent` is false).
    """

    def __init__(self, store: StateStore | None) -> None:
        self._store = store

    @property
    def persistent(self) -> bool:
        return self._store is not None

    def known(self, provider: str) -> dict[str, str]:
        """Key (entity type, request fingerprint) → export id saved by ``provider``."""
        return {} if self._store is None else self._store.known_exports(provider)

    def remember(self, provider: str, key: str, export_id: str) -> None:
        if self._store is not None:
            self._store.remember_export(provider, key, export_id)


class RunPlan:
    """Everything about a run but its source; :meth:`run` streams a source through it.

    ``sink`` is a :class:`~streamer.sinks.base.Sink` or a sink URL
    (``"sqlite:///out.db"``, see :mod:`streamer.sinks.registry`).  ``stop_on``
    signals stop the run after the current batch (see :mod:`streamer.workers`).
    """

    def __init__(
        self,
        sink: Sink | str,
        *,
        config: StreamConfig | None = None,
        session: aiohttp.ClientSession | None = None,
        state: StateStore | str | os.PathLike[str] | None = None,
        resume: Resume = None,
        checkpoints: Mapping[str, Checkpoint] | None = None,
        on_checkpoint: CheckpointHook | None = None,
        on_progress: ProgressHook | None = None,
        progress_interval: float = 1.0,
        stop_on: Iterable[signal.Signals | int] = (),
        display: Display | None = None,
        stats: RunStats | None = None,
        executor: Any = None,
    ) -> None:
        self.executor = executor
        """A ``distributed.Client``: the parts run on its Dask cluster (see :mod:`streamer.distributed`)."""
        self.sink_url = sink if isinstance(sink, str) else None
        """What cluster workers open: each writes through a sink of its own."""
        if executor is not None:
            _check_cluster_plan(self.sink_url, state, checkpoints)
        self.sink = resolve_sink(sink)
        self.config = config or StreamConfig()
        self.session = session
        self.resume = plan_resume(self.sink, state=state, resume=resume, checkpoints=checkpoints)
        self.exports = ExportMemory(self.resume.store)
        self.on_checkpoint = on_checkpoint
        self.on_progress = on_progress
        self.progress_interval = progress_interval
        self.stop_on = tuple(stop_on)
        self.display = display
        self.stats = stats or RunStats()

    @classmethod
    def of(cls, sink: Sink | str, config: StreamConfig | None, options: Mapping[str, Any], **plan: Any) -> RunPlan:
        """A plan from ``config=`` or individual :class:`StreamConfig` options (not both)."""
        if config is not None and options:
            raise TypeError("pass either config= or individual options, not both")
        return cls(sink, config=config or StreamConfig(**options), **plan)

    async def run(self, source: Source) -> RunStats:
        """Stream every record of ``source`` into the sink; return the run's counters."""
        async with self._displayed():
            if self.executor is not None:
                return await self._on_cluster(source)
            if not self.stop_on:
                return await self._engine(source, self.sink)
            from streamer.workers import run_until_signalled

            return await run_until_signalled(
                self.stop_on, lambda sink: self._engine(source, sink), self.sink, self.stats
            )

    def run_sync(self, source: Source) -> RunStats:
        """:meth:`run` on an event loop of its own (for code that is not async)."""
        return anyio.run(self.run, source, backend="asyncio")  # aiohttp needs asyncio

    @asynccontextmanager
    async def _displayed(self) -> AsyncIterator[None]:
        if self.display is None:
            yield
            return
        async with self.display(self.stats):
            yield

    def on_cluster(self, client: Any, sink_url: str | None = None) -> RunPlan:
        """This plan with its parts run on the Dask cluster of ``client`` (into ``sink_url``, if given)."""
        if sink_url is not None:
            self.sink_url = sink_url
        _check_cluster_plan(self.sink_url, self.resume.store, None)
        self.executor = client
        return self

    async def _on_cluster(self, source: Source) -> RunStats:
        """The coordinator here, the parts on the cluster; the sink's commits are the state."""
        from streamer.distributed.coordinator import run_on_cluster

        assert self.sink_url is not None  # _check_cluster_plan
        return await run_on_cluster(source, self.sink_url, client=self.executor, **self._engine_hooks())

    def _engine_hooks(self) -> dict[str, Any]:
        """What every engine run of this plan is given, in process or on a cluster."""
        return {
            "config": self.config,
            "session": self.session,
            "stats": self.stats,
            "on_progress": self.on_progress,
            "progress_interval": self.progress_interval,
        }

    async def _engine(self, source: Source, sink: Sink) -> RunStats:
        from streamer.engine.runner import run_export

        hooks = self._engine_hooks()
        store = self.resume.store
        if isinstance(source, IncrementalSource) and source.bookmarks is not None:
            source.bookmarks.attach_state(store)  # bookmarks saved with the checkpoints too
        if store is None:
            return await run_export(
                source, sink, checkpoints=self.resume.checkpoints, on_checkpoint=self.on_checkpoint, **hooks
            )
        async with tracked_run(store, sink, resume=self.resume.from_store, on_checkpoint=self.on_checkpoint) as run:
            return await run_export(
                source, sink, checkpoints=run.checkpoints, on_checkpoint=run.on_checkpoint, **hooks
            )


def _check_cluster_plan(sink_url: str | None, state: object, checkpoints: object) -> None:
    """What a run on a cluster cannot take, refused in one line before anything starts."""
    if sink_url is None:
        raise ConfigError(
            "a run on a cluster needs its sink as a URL (postgresql://... or dir://...): "
            "every worker opens a sink of its own"
        )
    if state is not None or checkpoints is not None:
        raise ConfigError("a run on a cluster resumes from the sink's own checkpoints: drop state=/checkpoints=")
