"""Singer output: SCHEMA before a stream's first record, RECORD per record, STATE at the end.

The stream name is the record's entity type (or the source name).  The
SCHEMA (``properties``, nullable JSON types, ``format: date-time``,
``key_properties``) comes from the schema registry and is widened by the
records' own fields (:mod:`streamer.schemas.singer`); ``urls`` without a
schema gets one inferred from its records.  The final STATE carries every part's
checkpoint, so a Singer runner can persist it.

Incremental exports add Singer ``bookmarks`` to the STATE —
``{"bookmarks": {stream: {"replication_key": "UpdatedUtc",
"replication_key_value": ...}}}`` — emitted right after the records of the
batch that completed the window (so a runner that persists the latest
STATE never holds a bookmark ahead of the records it received), and again
in the final STATE.  Fed back with ``--state FILE``, that STATE (the message
or its ``value``) continues from those bookmarks.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from typing import Any, BinaryIO

import anyio.to_thread
import orjson

from streamer.records import Batch
from streamer.schemas.registry import lookup
from streamer.sinks.base import SinkCapabilities
from streamer.schemas.singer import SingerStream, stream_for, stream_json_schema


def stream_schema(source: str, entity_type: str | None) -> dict[str, Any]:
    """The SCHEMA a stream of ``source``'s ``entity_type`` starts with (before any widening)."""
    return stream_json_schema(lookup(source, entity_type))


class SingerSink:
    """Writes Singer messages to stdout (or a binary stream).

    ``key_properties`` lists candidate keys; each stream's SCHEMA declares
    those its first record actually has (LogiSense CSV rows, for one, have
    no ``Id``), since a target rejects records missing a declared key.
    """

    capabilities = SinkCapabilities(emits_bookmarks=True)
    """Incremental bookmarks go out in STATE messages (a Singer runner keeps them)."""

    def __init__(self, target: BinaryIO | None = None, *, key_properties: tuple[str, ...] = ("Id",)) -> None:
        self._target = target
        self._stream: BinaryIO | None = None
        self._key_properties = list(key_properties)
        self._streams: dict[str, SingerStream] = {}
        self._state: dict[str, Any] = {}
        self._bookmarks: dict[str, Any] = {}

    async def open(self) -> None:
        self._stream = self._target or sys.stdout.buffer

    async def write(self, batch: Batch) -> None:
        info = batch.part
        stream = info.entity_type or info.source
        checkpoint = batch.checkpoint
        self._state[info.key] = checkpoint.to_json()
        lines = []
        if batch.records:
            self._record_lines(batch, stream, lines)
        if batch.bookmarks:
            for key, entry in batch.bookmarks.items():
                self._bookmarks[entry.get("stream") or key] = {**entry, "key": key}
            lines.append(self._state_message())
        if lines:
            await anyio.to_thread.run_sync(self._write, b"\n".join(lines) + b"\n")

    def _state_message(self) -> bytes:
        value: dict[str, Any] = {"parts": self._state}
        if self._bookmarks:
            value["bookmarks"] = self._bookmarks
        return orjson.dumps({"type": "STATE", "value": value})

    def _record_lines(self, batch: Batch, stream: str, lines: list[bytes]) -> None:
        singer = self._streams.get(stream)
        if singer is None:
            singer = self._streams[stream] = stream_for(batch.records[0], self._key_properties)
        schema_message, bodies = singer.bodies(batch.records)
        if schema_message is not None:
            lines.append(schema_message)
        extracted = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        # RECORD messages are spliced around each record's JSON (its line as read, or
        # its CSV values typed): no wrapper dict per record, no decoded copy kept.
        head = orjson.dumps({"type": "RECORD", "stream": singer.name})[:-1] + b',"record":'
        tail = b',"time_extracted":"' + extracted.encode() + b'"}'
        lines.extend(head + body + tail for body in bodies)

    def _write(self, payload: bytes) -> None:
        assert self._stream is not None
        self._stream.write(payload)
        self._stream.flush()

    async def close(self, error: BaseException | None) -> None:
        if self._stream is None:
            return
        if error is None:
            self._write(self._state_message() + b"\n")
        self._stream = None
