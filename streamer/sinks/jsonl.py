"""Records as JSON lines, to stdout or a file.

Each batch becomes one buffer (lines nobody decoded pass through as read,
see :func:`~streamer.records.to_jsonl`), written with one call in a worker
thread: the event loop keeps downloading and parsing the
next batch on the other core while the kernel copies this one, and a slow
reader (``| slow-consumer``) blocks only that thread, which in turn holds
back the next ``write`` and so the sockets.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

import anyio.to_thread
import orjson

from streamer.records import Batch, to_jsonl
from streamer.sinks.base import ROLLS_BACK


class JsonlSink:
    """Writes every record as one JSON object per line: the line as read, or its data re-encoded.

    ``with_metadata`` adds a ``_streamer`` object (source, entity type, part,
    line, offset) to each line, for consumers that want provenance.
    """

    capabilities = ROLLS_BACK  # a state store truncates the file back to its mark: see commit_mark

    def __init__(
        self,
        target: str | Path | BinaryIO | None = None,
        *,
        with_metadata: bool = False,
        fsync: bool = False,
    ) -> None:
        self._target = target
        self._with_metadata = with_metadata
        self._fsync = fsync
        self._stream: BinaryIO | None = None
        self._owned = False
        self._length = 0
        self._committing = False
        self.records = 0

    async def open(self) -> None:
        if self._target is None or self._target == "-":
            self._stream = sys.stdout.buffer
        elif isinstance(self._target, (str, Path)):
            self._stream = open(self._target, "ab")  # noqa: SIM115 - closed in close()
            self._owned = True
            self._length = os.fstat(self._stream.fileno()).st_size
        else:
            self._stream = self._target

    async def write(self, batch: Batch) -> None:
        if not batch.records:
            return
        payload = self.encode(batch)
        await anyio.to_thread.run_sync(self._write, payload)
        self.records += len(batch.records)

    def encode(self, batch: Batch) -> bytes:
        dumps = orjson.dumps
        if not self._with_metadata:
            return to_jsonl(batch.records)
        info = batch.part
        lines = []
        for r in batch.records:
            data = dict(r.decoded())
            data["_streamer"] = {
                "source": info.source,
                "entity_type": info.entity_type,
                "export_id": info.export_id,
                "part": info.index,
                "line": r.line,
                "offset": r.offset,
            }
            lines.append(dumps(data))
        return b"\n".join(lines) + b"\n"

    def _write(self, payload: bytes) -> None:
        assert self._stream is not None
        with self._naming_the_file():
            self._stream.write(payload)
            self._stream.flush()
            if self._fsync:
                os.fsync(self._stream.fileno())
        self._length += len(payload)

    @contextlib.contextmanager
    def _naming_the_file(self) -> Iterator[None]:
        """Put the output path on an ``OSError`` from write/flush/close.

        A failed ``write()`` carries no filename: "No space left on device"
        alone does not say which of the run's files filled up.
        """
        try:
            yield
        except OSError as exc:
            if exc.filename is None and isinstance(self._target, (str, Path)):
                exc.filename = os.fspath(self._target)
            raise

    async def close(self, error: BaseException | None) -> None:
        if self._stream is None:
            return
        try:
            if self._owned:
                with self._naming_the_file():
                    if self._committing:
                        self._stream.flush()
                        os.fsync(self._stream.fileno())
                    self._stream.close()
            else:
                try:
                    self._stream.flush()
                except BrokenPipeError:
                    pass
        finally:
            self._stream = None

    # -- exactly-once with a state store (streamer.state.CommittableSink)
    #
    # The store saves the file's length with the checkpoints it covers, after
    # fsyncing the file; a resumed run truncates the file back to that length
    # before appending, so lines written after the last save (and a line torn
    # by a kill) are dropped and re-delivered exactly once.

    def commit_mark(self) -> dict[str, Any] | None:
        """The output file and its length now (``None`` for stdout and streams)."""
        if not isinstance(self._target, (str, Path)) or self._target == "-":
            return None
        self._committing = True
        path = Path(self._target)
        if self._stream is not None:
            length = self._length
        else:
            length = path.stat().st_size if path.exists() else 0
        return {"kind": "jsonl-file", "path": str(path.resolve()), "length": length}

    async def sync(self) -> None:
        """fsync what was written (the file stays open)."""
        if self._stream is not None and self._owned:
            await anyio.to_thread.run_sync(self._sync)

    def _sync(self) -> None:
        stream = self._stream
        if stream is not None:
            stream.flush()
            os.fsync(stream.fileno())

    def restore(self, mark: Mapping[str, Any]) -> None:
        """Truncate the output file to the committed length (before :meth:`open`)."""
        from streamer.state.store import StateError

        if mark.get("kind") != "jsonl-file" or not isinstance(self._target, (str, Path)):
            return
        path = Path(self._target)
        if str(path.resolve()) != mark.get("path"):
            return  # output redirected to another file: it starts where the state says
        length = int(mark.get("length", 0))
        size = path.stat().st_size if path.exists() else 0
        if size < length:
            raise StateError(
                f"output file {path} has {size} bytes but the state says {length} were delivered to it; "
                "records would be lost — restore the file or start over without the state"
            )
        if size > length:
            with open(path, "r+b") as stream:
                stream.truncate(length)
                stream.flush()
                os.fsync(stream.fileno())
        self._committing = True
