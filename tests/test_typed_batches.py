"""Typed batches and typed streams: Structs decoded from the raw lines, per batch.

Every provider's typed path: Mews (its registered Structs), ``urls`` over
Mews files (``typed=OrderItem``), LogiSense and Rebilly CSV (strings
converted by a Struct the consumer names); equality with ``record.typed()``;
a bad record named by part, line and byte offset; unknown fields kept.
"""

from __future__ import annotations

import msgspec
import orjson
import pytest

from streamer import (
    CallbackSink,
    DecodeError,
    StreamConfig,
    UrlSource,
    run,
    stream,
    stream_urls,
)
from streamer.providers.mews.entities import OrderItem, Payment
from streamer.records import Batch, Checkpoint, PartInfo, Record
from streamer.simulator import Simulator
from streamer.simulator.logisense import install as install_logisense
from streamer.typed import struct_for, typed_records
from tests.support.faults import serve_bytes
from tests.support.mews import mews_simulator, mews_source
from tests.support.rebilly import FAST_RETRY, make_source, rebilly_sim

pytestmark = pytest.mark.timeout(60)

MEWS_INFO = PartInfo(source="mews", index=0, entity_type="OrderItem", export_id="e-1", name="part-0.jsonl")


def raw_records(lines: list[bytes], info: PartInfo = MEWS_INFO) -> list[Record]:
    """Records as the JSON Lines decoder makes them: raw lines, byte offsets of each line."""
    records, offset = [], 0
    for number, line in enumerate(lines, start=1):
        records.append(Record(None, info, number, offset, line))
        offset += len(line) + 1
    return records


def batch_of(records: list[Record], info: PartInfo = MEWS_INFO) -> Batch:
    last = records[-1]
    return Batch(records, info, Checkpoint(info.key, last.offset + len(last.raw or b"") + 1, last.line))


def order_item_line(i: int, **extra: object) -> bytes:
    data = {"Id": f"o{i}", "EnterpriseId": "ent", "UnitCount": i, "CreatedUtc": "2025-06-01T10:00:00Z",
            "Amount": {"Currency": "EUR", "NetValue": i * 1.5, "GrossValue": i * 1.8}}
    data.update(extra)
    return orjson.dumps(data)


# ----------------------------------------------------------------- in memory


def test_batch_typed_equals_per_record_typed_and_keeps_unknown_fields() -> None:
    lines = [order_item_line(i) for i in range(50)]
    lines[7] = order_item_line(7, BrandNewField={"nested": [1, 2]})
    batch = batch_of(raw_records(lines))
    typed = batch.typed()
    assert typed == [r.typed() for r in batch.records]
    assert all(type(t) is OrderItem for t in typed) and typed[3].unit_count == 3 and typed[3].amount.currency == "EUR"
    assert not hasattr(typed[7], "brand_new_field")
    assert batch.records[7].data["BrandNewField"] == {"nested": [1, 2]}


def test_a_bad_record_is_named_by_part_line_and_byte_offset() -> None:
    lines = [order_item_line(i) for i in range(20)]
    lines[13] = order_item_line(13, UnitCount="three")
    records = raw_records(lines)
    with pytest.raises(DecodeError) as info:
        batch_of(records).typed()
    error = info.value
    assert (error.line, error.offset) == (14, sum(len(line) + 1 for line in lines[:13]))
    assert error.part == MEWS_INFO.describe() and "$.UnitCount" in str(error) and "OrderItem" in str(error)


def test_decoded_and_edited_records_are_typed_from_their_data() -> None:
    records = raw_records([order_item_line(i) for i in range(5)])
    records[2].data["UnitCount"] = 99  # decoded, then edited by a consumer: the edit wins
    assert [t.unit_count for t in typed_records(records, OrderItem)] == [0, 1, 99, 3, 4]


def test_struct_for_is_the_one_seam_and_a_part_without_a_struct_says_so() -> None:
    assert struct_for(MEWS_INFO) is OrderItem
    info = PartInfo(source="urls", index=0, name="x.jsonl")
    assert struct_for(info) is None
    batch = batch_of(raw_records([order_item_line(1)], info), info)
    with pytest.raises(LookupError, match=r"no typed entity registered for urls/- \(x.jsonl\)"):
        batch.typed()
    assert batch.typed(OrderItem)[0].id == "o1"


# ------------------------------------------------------------------ end to end


async def test_mews_stream_typed_yields_every_record_as_its_struct() -> None:
    async with mews_simulator(records=300, parts=2) as (sim, api):
        async with stream(mews_source(sim, ["OrderItem", "Payment"]), typed=True, batch_size=64) as items:
            typed = [item async for item in items]
        served = {e.entity_type: [line for f in e.files for line in b"".join(f.iter_plain()).splitlines()]
                  for e in api.exports.values()}
        per_record: list[object] = []
        async with stream(mews_source(sim, ["OrderItem"]), batch_size=64) as batches:
            async for batch in batches.batches():
                assert batch.typed() == [r.typed() for r in batch.records]
                per_record.extend(batch.typed())
    assert len(typed) == 600 and {type(t) for t in typed} == {OrderItem, Payment}
    expected = [msgspec.json.decode(line, type=struct) for name, struct in (("OrderItem", OrderItem), ("Payment", Payment))
                for line in served[name]]
    key = lambda t: (type(t).__name__, t.id)
    assert sorted(typed, key=key) == sorted(expected, key=key)
    assert len(per_record) == 300 and all(type(t) is OrderItem for t in per_record)


async def test_urls_of_mews_files_typed_by_a_named_struct_and_the_callback_sink() -> None:
    lines = [order_item_line(i, Extra=i) for i in range(400)]
    body = b"\n".join(lines) + b"\n"
    async with serve_bytes({"a.jsonl": body, "b.jsonl": body}, chunk=4096) as base:
        urls = [f"{base}/a.jsonl", f"{base}/b.jsonl"]
        async with stream_urls(urls, typed=OrderItem, batch_size=100, ordered=True) as items:
            typed = [item async for item in items]
        delivered: list[list[OrderItem]] = []
        await run(UrlSource(urls), CallbackSink(delivered.append, typed=OrderItem), batch_size=100, ordered=True)
    expected = [msgspec.json.decode(line, type=OrderItem) for line in lines] * 2
    assert typed == expected
    assert [t for b in delivered for t in b] == expected  # an empty batch (the part's last checkpoint) is []


async def test_a_bad_record_fails_the_typed_stream_with_its_place() -> None:
    lines = [order_item_line(i) for i in range(300)]
    lines[250] = order_item_line(250, CreatedUtc="yesterday")
    async with serve_bytes({"bad.jsonl": b"\n".join(lines) + b"\n"}, chunk=4096) as base:
        with pytest.raises(DecodeError) as info:
            async with stream_urls([f"{base}/bad.jsonl"], typed=OrderItem, batch_size=100) as items:
                async for _ in items:
                    pass
    assert (info.value.line, info.value.offset) == (251, sum(len(line) + 1 for line in lines[:250]))
    assert "bad.jsonl" in info.value.part and "$.CreatedUtc" in str(info.value)


class LogisenseRow(msgspec.Struct):
    rowId: str
    accountId: int


async def test_logisense_csv_rows_typed_by_a_named_struct() -> None:
    from tests.test_logisense_api import source_for

    sim = Simulator(seed=5)
    api = install_logisense(sim, ready_made=False, rows_per_export=120, pending_seconds=0.01, processing_seconds=0.01)
    async with sim:
        newest = api.add_history(12, data_export_id=7)
        async with stream(source_for(sim, latest_of=[7]), typed=LogisenseRow) as rows:
            typed = [row async for row in rows]
    assert [row.rowId for row in typed] == newest.ids() and all(type(row.accountId) is int for row in typed)


class RebillyTransaction(msgspec.Struct):
    id: str
    amount: float


async def test_rebilly_csv_records_typed_by_a_named_struct() -> None:
    async with rebilly_sim(records=250) as (sim, state):
        source = make_source(sim, state)
        async with stream(source, config=StreamConfig(retry=FAST_RETRY), typed=RebillyTransaction) as items:
            typed = [item async for item in items]
    assert len(typed) == 250 and all(isinstance(t.amount, float) for t in typed)
    assert [t.id for t in typed] == state.exports[source.exports[0]["id"]].ids


@pytest.mark.timeout(120)
def test_the_typed_benchmark_runs_every_contender_over_the_whole_export() -> None:
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-m", "benchmarks.typed", "--size-mb", "1", "--parts", "2",
                           "--repeats", "1", "--json"], check=False, cwd=root, capture_output=True, text=True, timeout=110)
    assert done.returncode == 0, done.stderr[-3000:]  # a contender that missed a record exits non-zero
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["records"] > 500 and set(figures["records_per_s"]) == {
        "streamer stream_urls(typed=OrderItem)",
        "streamer records, each typed (record.typed())",
        "aiohttp + msgspec Decoder(OrderItem).decode_lines",
    }
    assert "| streamer stream_urls(typed=OrderItem) |" in done.stdout


async def test_a_typed_stream_with_state_resumes_after_the_last_consumed_batch(tmp_path) -> None:
    lines = [order_item_line(i) for i in range(3000)]
    state = tmp_path / "state.json"
    async with serve_bytes({"s.jsonl": b"\n".join(lines) + b"\n"}, chunk=65536) as base:
        url = f"{base}/s.jsonl"
        first: list[OrderItem] = []
        async with stream_urls([url], typed=OrderItem, batch_size=100, state=state) as items:
            async for item in items:
                first.append(item)
                if len(first) == 1500:
                    break
        async with stream_urls([url], typed=OrderItem, batch_size=100, state=state) as items:
            rest = [item async for item in items]
    ids = [f"o{i}" for i in range(3000)]
    resumed_at = 3000 - len(rest)
    assert 0 < resumed_at <= 1500, resumed_at  # what was consumed is not re-delivered, what was in hand is
    assert [t.id for t in first] == ids[:1500] and [t.id for t in rest] == ids[resumed_at:]
