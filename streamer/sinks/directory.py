"""JSONL files per entity type in a directory, optionally gzipped, rotated by size.

Layout: ``<dir>/<entity>-00000.jsonl[.gz]``, ``<entity>-00001...`` (a new file
once the current one would pass ``rotate_bytes``), and ``_streamer_state.json``.

Exactly-once without transactions: after each batch is appended (and
flushed; fsynced with ``fsync=True``), the state file is atomically replaced
with the part checkpoints *and the length of every file*.  A process killed
between the two leaves bytes past the recorded lengths, and the next
:meth:`DirSink.open` truncates them (and deletes files the state does not
name), so a resumed run starts from exactly what the state says was
delivered.  Gzipped output is written as one gzip member per batch: a file
truncated at a member boundary is still a valid (multi-member) gzip file,
readable by ``gzip -dc`` / ``zcat``.

The directory *is* the run's state: a new export wants a new directory.
"""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import orjson

from streamer.errors import ConfigError
from streamer.records import Batch, Checkpoint, to_jsonl
from streamer.sinks.base import STORING
from streamer.sinks.rows import table_name

STATE_NAME = "_streamer_state.json"
_FILE = re.compile(r"(?P<table>[a-z_][a-z0-9_]*)-(?P<seq>\d{5})\.jsonl(?P<gz>\.gz)?")


class DirSink:
    """``DirSink("out/", gzip=True, rotate_bytes=100 << 20)``."""

    capabilities = STORING  # checkpoints and bookmarks are committed with the rows: see load_checkpoints

    def __init__(
        self,
        directory: str | Path,
        *,
        gzip: bool = False,
        rotate_bytes: int | None = None,
        fsync: bool = False,
        compresslevel: int = 5,
    ) -> None:
        if rotate_bytes is not None and rotate_bytes < 1:
            raise ValueError(f"rotate_bytes must be positive, not {rotate_bytes}")
        self.directory = Path(directory)
        self.gzip = gzip
        self.rotate_bytes = rotate_bytes
        self.fsync = fsync
        self.compresslevel = compresslevel
        self.records = 0
        self._files: dict[str, dict[str, Any]] = {}
        """table → {"seq": n, "size": committed bytes} of the file being appended to."""
        self._checkpoints: dict[str, dict[str, Any]] = {}
        self._bookmarks: dict[str, dict[str, Any]] = {}
        self._handles: dict[str, Any] = {}
        self._limiter = anyio.CapacityLimiter(1)

    @property
    def state_path(self) -> Path:
        return self.directory / STATE_NAME

    def file_path(self, table: str, seq: int) -> Path:
        return self.directory / f"{table}-{seq:05d}.jsonl{'.gz' if self.gzip else ''}"

    # -- the Sink protocol

    async def open(self) -> None:
        await anyio.to_thread.run_sync(self._open_sync, limiter=self._limiter)

    def _open_sync(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        state = self._read_state()
        if state.get("gzip", self.gzip) != self.gzip:
            raise ConfigError(
                f"{self.directory} holds {'gzipped' if state['gzip'] else 'plain'} output of an earlier run; "
                f"resume it with the same gzip setting or use a new directory"
            )
        self._files = {t: dict(v) for t, v in state.get("files", {}).items()}
        self._checkpoints = dict(state.get("checkpoints", {}))
        self._bookmarks = dict(state.get("bookmarks", {}))
        self._roll_back()

    def _roll_back(self) -> None:
        """Cut every file back to what the state file says was delivered."""
        for path in self.directory.iterdir():
            match = _FILE.fullmatch(path.name)
            if match is None:
                continue
            current = self._files.get(match["table"])
            seq = int(match["seq"])
            if current is None or seq > current["seq"]:
                path.unlink()
            elif seq == current["seq"] and path.stat().st_size != current["size"]:
                os.truncate(path, current["size"])

    async def write(self, batch: Batch) -> None:
        payload = self._encode(batch) if batch.records else b""
        await anyio.to_thread.run_sync(self._write_sync, batch, payload, limiter=self._limiter)
        self.records += len(batch.records)

    def _encode(self, batch: Batch) -> bytes:
        payload = to_jsonl(batch.records)
        if self.gzip:
            payload = gzip.compress(payload, compresslevel=self.compresslevel, mtime=0)
        return payload

    def _write_sync(self, batch: Batch, payload: bytes) -> None:
        if payload:
            table = table_name(batch.part)
            current = self._files.setdefault(table, {"seq": 0, "size": 0})
            if self.rotate_bytes and current["size"] and current["size"] + len(payload) > self.rotate_bytes:
                self._close_handle(table)
                current["seq"] += 1
                current["size"] = 0
            handle = self._handle(table, current["seq"])
            handle.write(payload)
            handle.flush()
            if self.fsync:
                os.fsync(handle.fileno())
            current["size"] += len(payload)
        self._checkpoints[batch.checkpoint.part_key] = batch.checkpoint.to_json()
        if batch.bookmarks:  # an incremental window's end, in the same state document as its last batch
            self._bookmarks.update(batch.bookmarks)
        self._write_state()

    def _handle(self, table: str, seq: int) -> Any:
        handle = self._handles.get(table)
        if handle is None:
            handle = self._handles[table] = open(self.file_path(table, seq), "ab")  # noqa: SIM115
        return handle

    def _close_handle(self, table: str) -> None:
        handle = self._handles.pop(table, None)
        if handle is not None:
            if self.fsync:
                handle.flush()
                os.fsync(handle.fileno())
            handle.close()

    def _write_state(self) -> None:
        document = {"gzip": self.gzip, "files": self._files, "checkpoints": self._checkpoints}
        if self._bookmarks:
            document["bookmarks"] = self._bookmarks
        tmp = self.state_path.with_name(f".{STATE_NAME}.tmp")
        with open(tmp, "wb") as f:
            f.write(orjson.dumps(document))
            if self.fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, self.state_path)

    async def close(self, error: BaseException | None) -> None:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._close_all, limiter=self._limiter)

    def _close_all(self) -> None:
        for table in list(self._handles):
            self._close_handle(table)

    # -- resume

    def _read_state(self) -> dict[str, Any]:
        try:
            return orjson.loads(self.state_path.read_bytes())
        except FileNotFoundError:
            return {}
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"{self.state_path} is not valid JSON ({exc}); delete the directory to start over") from exc

    async def load_checkpoints(self) -> dict[str, Checkpoint]:
        """What this directory holds, by part key (empty for a new directory)."""
        state = await anyio.to_thread.run_sync(self._read_state)
        return {key: Checkpoint.from_json(key, value) for key, value in state.get("checkpoints", {}).items()}

    async def load_bookmarks(self) -> dict[str, dict[str, Any]]:
        """The bookmarks of incremental exports this directory holds."""
        state = await anyio.to_thread.run_sync(self._read_state)
        return dict(state.get("bookmarks", {}))

    def __repr__(self) -> str:
        return f"DirSink({str(self.directory)!r}, gzip={self.gzip}, rotate_bytes={self.rotate_bytes})"
