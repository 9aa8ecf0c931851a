"""Singer output is valid for a Singer target: checked against the Singer message spec with jsonschema.

Spec (singer-io/getting-started, SPEC.md): every line is a JSON message;
SCHEMA ``{type, stream, schema, key_properties}`` comes before the first
RECORD of its stream; RECORD ``{type, stream, record, time_extracted}``
(RFC 3339) and its ``record`` validates against the stream's schema; STATE
``{type, value}``.
"""

from __future__ import annotations

import dataclasses
import io
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import jsonschema
import orjson

import streamer.providers.mews  # noqa: F401  (registers the Mews entity Structs: real schemas)
from streamer.engine.config import StreamConfig
from streamer.engine.runner import run_export
from streamer.providers.urls import UrlSource
from streamer.records import Part
from streamer.simulator import Simulator
from streamer.sinks.singer import SingerSink

MESSAGE = {
    "oneOf": [
        {
            "type": "object",
            "required": ["type", "stream", "schema", "key_properties"],
            "properties": {
                "type": {"const": "SCHEMA"},
                "stream": {"type": "string", "minLength": 1},
                "schema": {"type": "object"},
                "key_properties": {"type": "array", "items": {"type": "string"}},
                "bookmark_properties": {"type": "array", "items": {"type": "string"}},
            },
            "additionalProperties": False,
        },
        {
            "type": "object",
            "required": ["type", "stream", "record"],
            "properties": {
                "type": {"const": "RECORD"},
                "stream": {"type": "string", "minLength": 1},
                "record": {"type": "object"},
                "time_extracted": {"type": "string"},
                "version": {"type": "integer"},
            },
            "additionalProperties": False,
        },
        {
            "type": "object",
            "required": ["type", "value"],
            "properties": {"type": {"const": "STATE"}, "value": {"type": "object"}},
            "additionalProperties": False,
        },
    ]
}


MESSAGE_VALIDATOR = jsonschema.Draft202012Validator(MESSAGE)


class MewsFiles(UrlSource):
    """The simulator's files labelled as Mews parts, so the sink uses the registered entity schemas."""

    name = "mews"

    def __init__(self, urls: list[str], export_id: str, **options: Any) -> None:
        super().__init__(urls, **options)
        self.export_id = export_id

    async def parts(self, session: Any) -> AsyncIterator[Part]:
        async for part in super().parts(session):
            part.info = dataclasses.replace(part.info, export_id=self.export_id)
            yield part


def validate_singer(lines: list[bytes]) -> dict[str, list[dict]]:
    """Validate a Singer stream; return the records by stream."""
    schemas: dict[str, jsonschema.protocols.Validator] = {}
    keys: dict[str, list[str]] = {}
    records: dict[str, list[dict]] = {}
    messages = [orjson.loads(line) for line in lines]
    for n, message in enumerate(messages):
        MESSAGE_VALIDATOR.validate(message)
        kind = message["type"]
        if kind == "SCHEMA":
            jsonschema.Draft202012Validator.check_schema(message["schema"])
            schemas[message["stream"]] = jsonschema.Draft202012Validator(message["schema"])
            # a key must be a declared property (an open schema declares nothing: Singer SDK targets refuse it)
            declared = message["schema"].get("properties", {})
            missing = [k for k in message["key_properties"] if k not in declared]
            assert not missing, f"line {n + 1}: key_properties {missing} not in the schema's properties"
            keys[message["stream"]] = message["key_properties"]
        elif kind == "RECORD":
            stream = message["stream"]
            assert stream in schemas, f"line {n + 1}: RECORD of {stream} before its SCHEMA"
            schemas[stream].validate(message["record"])
            absent = [k for k in keys[stream] if message["record"].get(k) is None]
            assert not absent, f"line {n + 1}: RECORD without its key {absent}"
            assert datetime.fromisoformat(message["time_extracted"].replace("Z", "+00:00")).tzinfo is not None
            records.setdefault(stream, []).append(message["record"])
    assert messages[-1]["type"] == "STATE", "the stream must end with a STATE message"
    return records


async def test_singer_messages_are_valid_for_a_target(sim: Simulator) -> None:
    orders = sim.add_export("OrderItem", records=900, parts=2)
    payments = sim.add_export("Payment", records=400, parts=1)
    out = io.BytesIO()
    sink = SingerSink(out)
    config = StreamConfig(batch_size=128)
    # one sink across two exports, as a multi-stream tap would emit
    await sink.open()

    class KeepOpen:
        async def open(self) -> None: ...
        async def write(self, batch):  # type: ignore[no-untyped-def]
            await sink.write(batch)
        async def close(self, error) -> None: ...  # type: ignore[no-untyped-def]

    await run_export(MewsFiles(sim.file_urls(orders), orders.id, entity_type="OrderItem"), KeepOpen(), config=config)
    await run_export(MewsFiles(sim.file_urls(payments), payments.id, entity_type="Payment"), KeepOpen(), config=config)
    await sink.close(None)

    records = validate_singer(out.getvalue().splitlines())
    assert sorted(r["Id"] for r in records["OrderItem"]) == sorted(orders.ids())
    assert sorted(r["Id"] for r in records["Payment"]) == sorted(payments.ids())
    state = orjson.loads(out.getvalue().splitlines()[-1])["value"]
    assert len(state["parts"]) == 3 and all(p["done"] for p in state["parts"].values())


async def test_cli_format_singer_and_sink_singer_agree(sim: Simulator) -> None:
    export = sim.add_export("Reservation", records=300, parts=1)
    url = sim.file_urls(export)[0]
    outputs = []
    for args in (["--format", "singer"], ["--sink", "singer:-"]):
        result = await _run([sys.executable, "-m", "streamer.cli.main", "-q", "urls", url,
                             "--entity", "Reservation", *args])
        assert result.returncode == 0, result.stderr.decode()
        records = validate_singer(result.stdout.splitlines())
        outputs.append(sorted(r["Id"] for r in records["Reservation"]))
    assert outputs[0] == outputs[1] == sorted(export.ids())


async def _run(cmd: list[str]) -> subprocess.CompletedProcess[bytes]:
    import anyio

    return await anyio.run_process(cmd, check=False)


async def test_key_properties_only_name_fields_the_stream_has() -> None:
    import io

    import orjson

    from streamer.records import Batch, Checkpoint, PartInfo, Record
    from streamer.sinks.singer import SingerSink

    out = io.BytesIO()
    sink = SingerSink(out)
    await sink.open()
    for entity, data in (("Invoice", {"invoiceNumber": "7"}), ("OrderItem", {"Id": "a"})):
        part = PartInfo(source="test", index=0, entity_type=entity)
        await sink.write(Batch([Record(data, part, 1, 0)], part, Checkpoint(part.key, 10, 1)))
    await sink.close(None)
    schemas = [m for m in map(orjson.loads, out.getvalue().splitlines()) if m["type"] == "SCHEMA"]
    assert {m["stream"]: m["key_properties"] for m in schemas} == {"Invoice": [], "OrderItem": ["Id"]}
