"""Singer output: SCHEMA before a stream's first record, RECORD per record, STATE at the end.

The stream name is the record's entity type (or the source name).  The
schema comes from the entity's registered Struct when there is one (its
JSON Schema, with ``additionalProperties`` left open since exports gain
fields), else an open object.  The final STATE carries every part's
checkpoint, so a Singer runner can persist it.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from typing import Any, BinaryIO

import anyio.to_thread
import msgspec
import orjson

from streamer.entities import entity_struct
from streamer.records import Batch


def stream_schema(source: str, entity_type: str | None) -> dict[str, Any]:
    struct = entity_struct(source, entity_type)
    if struct is None:
        return {"type": "object", "additionalProperties": True}
    schema = msgspec.json.schema(struct)
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        defs = schema.get("$defs", {})
        schema = {**defs[name], "$defs": defs}
    schema["additionalProperties"] = True
    return schema


def _declaring(schema: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """``schema`` with every key property in ``properties``: targets look keys up there, an open schema has none."""
    properties = schema.get("properties", {})
    missing = {k: {} for k in keys if k not in properties}
    return {**schema, "properties": {**properties, **missing}} if missing else schema


class SingerSink:
    """Writes Singer messages to stdout (or a binary stream).

    ``key_properties`` lists candidate keys; each stream's SCHEMA declares
    those its first record actually has (LogiSense CSV rows, for one, have
    no ``Id``), since a target rejects records missing a declared key.
    """

    def __init__(self, target: BinaryIO | None = None, *, key_properties: tuple[str, ...] = ("Id",)) -> None:
        self._target = target
        self._stream: BinaryIO | None = None
        self._key_properties = list(key_properties)
        self._schemas_sent: set[str] = set()
        self._state: dict[str, Any] = {}

    async def open(self) -> None:
        self._stream = self._target or sys.stdout.buffer

    async def write(self, batch: Batch) -> None:
        info = batch.part
        stream = info.entity_type or info.source
        checkpoint = batch.checkpoint
        self._state[info.key] = checkpoint.to_json()
        if not batch.records:
            return
        lines = []
        if stream not in self._schemas_sent:
            self._schemas_sent.add(stream)
            keys = [k for k in self._key_properties if k in batch.records[0].decoded()]
            lines.append(
                orjson.dumps(
                    {
                        "type": "SCHEMA",
                        "stream": stream,
                        "schema": _declaring(stream_schema(info.source, info.entity_type), keys),
                        "key_properties": keys,
                    }
                )
            )
        extracted = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        # RECORD messages are spliced around each record's JSON (its line as read): no
        # wrapper dict per record, no decoded copy kept in the batch.
        head = orjson.dumps({"type": "RECORD", "stream": stream})[:-1] + b',"record":'
        tail = b',"time_extracted":"' + extracted.encode() + b'"}'
        lines.extend(head + r.to_json() + tail for r in batch.records)
        await anyio.to_thread.run_sync(self._write, b"\n".join(lines) + b"\n")

    def _write(self, payload: bytes) -> None:
        assert self._stream is not None
        self._stream.write(payload)
        self._stream.flush()

    async def close(self, error: BaseException | None) -> None:
        if self._stream is None:
            return
        if error is None:
            self._write(orjson.dumps({"type": "STATE", "value": {"parts": self._state}}) + b"\n")
        self._stream = None
