"""Sinks that many workers write at once, each part under an exclusive lease.

A cluster run writes from many processes, so only sinks with many writers
are accepted:

* **PostgreSQL**: each running part has its own connection (the
  :class:`~streamer.sinks.postgres.PostgresSink`, which commits each
  batch's rows and the part's checkpoint in one transaction) and a second
  one holding a session advisory lock on the part.  A killed worker's
  connections drop with it, the server releases its lock, and the task Dask
  reschedules resumes at the committed checkpoint.
* **dir**: each part writes its own :class:`~streamer.sinks.directory.DirSink`
  under ``<dir>/parts/<part>/`` (its state file rolls back a torn batch),
  locked with ``flock`` (released by the kernel when the holder dies); the
  coordinator writes one manifest, ``<dir>/_streamer_manifest.json``.

The lease makes a second copy of a part — a task Dask reran while the first
attempt still ran on a worker it had given up on — wait, then find the part
done, instead of writing it twice.

SQLite, DuckDB and stdout JSONL/Singer have a single writer: refused with
one line (run them without a cluster).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import anyio
import anyio.to_thread
import orjson

from streamer.distributed.specs import PartSpec, slug
from streamer.errors import ConfigError
from streamer.records import Batch, Checkpoint
from streamer.sinks.base import Sink
from streamer.sinks.directory import STATE_NAME, DirSink
from streamer.sinks.registry import describe, sink_from_url

MANIFEST_NAME = "_streamer_manifest.json"
PARTS_DIR = "parts"
_LEASE_CLASS = 0x5354  # "ST": the first key of streamer's advisory locks
_DDL_LOCK = 0


class ClusterTarget(Protocol):
    async def committed(self) -> dict[str, Checkpoint]:
        """Every part's committed checkpoint, read at the coordinator."""
        ...

    def open_part(self, spec: PartSpec) -> contextlib.AbstractAsyncContextManager[Sink]:
        """On a worker: hold the part's lease and give the sink to stream it into."""
        ...

    async def finish(self) -> None:
        """At the coordinator, once every part is delivered."""
        ...


def target_for(sink_url: str) -> ClusterTarget:
    """The cluster target of a ``--sink`` URL, or one line saying why that sink cannot be one."""
    scheme = "jsonl" if sink_url == "-" else sink_url.partition(":")[0].lower()
    factory = CLUSTER_TARGETS.get(scheme)
    if factory is not None:
        return factory(sink_url)
    raise ConfigError(
        f"sink {describe(sink_url)} has a single writer and a cluster run writes from many processes: "
        "use postgresql://... or dir://..., or run without --workers/--scheduler"
    )


def url_password(sink_url: str) -> str | None:
    return urlsplit(sink_url).password if "://" in sink_url else None


def without_password(sink_url: str) -> str:
    """The URL with its password removed (workers read it from ``PGPASSWORD`` or ``~/.pgpass``)."""
    parts = urlsplit(sink_url)
    if parts.password is None:
        return sink_url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}@{host}" if user else host).geturl()


# ------------------------------------------------------------------ PostgreSQL


class PostgresTarget:
    def __init__(self, sink_url: str) -> None:
        from streamer.sinks.postgres import PostgresSink, split_dsn

        self.url = sink_url
        self._sink_type = PostgresSink
        PostgresSink.from_url(sink_url)  # refuses a bad schema name here, at the coordinator
        self.dsn = split_dsn(sink_url)[0]

    async def committed(self) -> dict[str, Checkpoint]:
        return await self._sink_type.from_url(self.url).load_checkpoints()

    @contextlib.asynccontextmanager
    async def open_part(self, spec: PartSpec) -> AsyncIterator[Sink]:
        import asyncpg

        lease = await asyncpg.connect(self.dsn)
        try:
            await lease.execute("SELECT pg_advisory_lock($1, hashtext($2))", _LEASE_CLASS, spec.key)
            yield _FirstWriteSerialized(self._sink_type.from_url(self.url), lease)
        finally:
            with anyio.CancelScope(shield=True):
                await lease.close(timeout=10)  # closing the session releases its locks

    async def finish(self) -> None:
        return None


class _FirstWriteSerialized:
    """Runs a part's first write (where the sink creates its table) under one cluster-wide lock.

    ``CREATE TABLE IF NOT EXISTS`` run by two sessions at once can fail on
    PostgreSQL's catalog; the first batch of each part is one batch, so
    serializing it costs nothing measurable.
    """

    def __init__(self, sink: Sink, lease: Any) -> None:
        self.sink = sink
        self._lease = lease
        self._first = True

    async def open(self) -> None:
        await self._serialized(self.sink.open())

    async def write(self, batch: Batch) -> None:
        if not self._first:
            await self.sink.write(batch)
            return
        await self._serialized(self.sink.write(batch))
        self._first = False

    async def _serialized(self, step: Any) -> None:
        await self._lease.execute("SELECT pg_advisory_lock($1, $2)", _LEASE_CLASS, _DDL_LOCK)
        try:
            await step
        finally:
            await self._lease.execute("SELECT pg_advisory_unlock($1, $2)", _LEASE_CLASS, _DDL_LOCK)

    async def close(self, error: BaseException | None) -> None:
        await self.sink.close(error)

    async def load_checkpoints(self) -> dict[str, Checkpoint]:
        return await self.sink.load_checkpoints()  # type: ignore[attr-defined,no-any-return]


# ------------------------------------------------------------------ dir


CLUSTER_TARGETS: dict[str, Callable[[str], ClusterTarget]] = {}
"""URL scheme → cluster target factory.  A target of your own must be registered in the
coordinator *and* in every worker process (import its module there, e.g. with a worker preload)."""


class DirTarget:
    def __init__(self, sink_url: str) -> None:
        template = sink_from_url(sink_url)
        assert isinstance(template, DirSink)
        self.template = template
        self.root = template.directory
        if (self.root / STATE_NAME).exists():
            raise ConfigError(
                f"{self.root} holds the output of a run without a cluster ({STATE_NAME}); "
                "resume it the same way, or give a cluster run a new directory"
            )

    def part_directory(self, key: str) -> Path:
        return self.root / PARTS_DIR / slug(key)

    def _part_sink(self, directory: Path) -> DirSink:
        t = self.template
        return DirSink(directory, gzip=t.gzip, rotate_bytes=t.rotate_bytes, fsync=t.fsync, compresslevel=t.compresslevel)

    async def committed(self) -> dict[str, Checkpoint]:
        return await anyio.to_thread.run_sync(self._committed_sync)

    def _committed_sync(self) -> dict[str, Checkpoint]:
        checkpoints: dict[str, Checkpoint] = {}
        for directory, state in self._part_states():
            for key, value in state.get("checkpoints", {}).items():
                checkpoints[key] = Checkpoint.from_json(key, value)
        return checkpoints

    def _part_states(self) -> list[tuple[Path, dict[str, Any]]]:
        parts = self.root / PARTS_DIR
        if not parts.is_dir():
            return []
        found = []
        for directory in sorted(parts.iterdir()):
            state_path = directory / STATE_NAME
            if state_path.is_file():
                found.append((directory, orjson.loads(state_path.read_bytes())))
        return found

    @contextlib.asynccontextmanager
    async def open_part(self, spec: PartSpec) -> AsyncIterator[Sink]:
        directory = self.part_directory(spec.key)
        directory.mkdir(parents=True, exist_ok=True)
        lease = open(directory / ".lease", "wb")  # noqa: SIM115 - held for the part's whole run
        try:
            # a thread we cannot cancel: abandon it if cancelled, the lock dies with the file
            await anyio.to_thread.run_sync(fcntl.flock, lease.fileno(), fcntl.LOCK_EX, abandon_on_cancel=True)
            yield self._part_sink(directory)
        finally:
            lease.close()

    async def finish(self) -> None:
        await anyio.to_thread.run_sync(self._write_manifest)

    def _write_manifest(self) -> None:
        """``{"gzip": bool, "parts": {part key: {"directory", "files", "done", "line"}}}``, replaced atomically."""
        parts: dict[str, Any] = {}
        for directory, state in self._part_states():
            names = sorted(p.name for p in directory.iterdir() if p.name.endswith((".jsonl", ".jsonl.gz")))
            for key, value in state.get("checkpoints", {}).items():
                parts[key] = {
                    "directory": str(directory.relative_to(self.root)),
                    "files": names,
                    "done": bool(value.get("done")),
                    "line": value.get("line"),
                }
        document = {"gzip": self.template.gzip, "parts": parts}
        tmp = self.root / f".{MANIFEST_NAME}.tmp"
        tmp.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        os.replace(tmp, self.root / MANIFEST_NAME)


CLUSTER_TARGETS.update({"postgresql": PostgresTarget, "postgres": PostgresTarget, "dir": DirTarget})
