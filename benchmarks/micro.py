"""In-memory measurements behind the design choices (``python -m benchmarks.micro URLS_FILE``).

One part is downloaded into memory, then, timed on the parse alone:

* what a record costs as a :class:`~streamer.records.Record` Struct against a
  bare dict, in batches of 1000 kept until the batch is done (as a sink sees
  them), with the cyclic GC on (the library) and frozen (the CLI);
* what validating a line costs: the syntax check streamer runs (msgspec
  decoding into ``msgspec.Raw``, nothing built) against ``orjson.loads``, and
  the whole JSON Lines decoder (framing, check, ``Record``) fed 256 KiB chunks;
* what typed records cost (``msgspec.convert`` to the Mews ``OrderItem`` Struct,
  which ``record.typed()`` does);
* whether parsing in a process pool pays on this machine: the workers parse
  blocks of lines and the records come back pickled, against the same blocks
  parsed in-process.

Prints one JSON object on stdout.
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import orjson

BATCH = 1000
BLOCK = 1 << 20
REPEATS = 3


def _best_of(func: Callable[[], int], repeats: int = REPEATS) -> tuple[float, int]:
    """Median seconds of ``func`` and what it returned."""
    times = []
    result = 0
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _drop_each(lines: list[bytes]) -> int:
    loads = orjson.loads
    for line in lines:
        loads(line)
    return len(lines)


def _check_each(lines: list[bytes]) -> int:
    import msgspec

    check = msgspec.json.Decoder(msgspec.Raw).decode
    for line in lines:
        check(line)
    return len(lines)


def _jsonl_decoder(data: bytes) -> int:
    from streamer.decoding.badlines import BadLines
    from streamer.decoding.base import make_decoder
    from streamer.records import PartInfo

    decoder = make_decoder("jsonl", PartInfo("bench", 0), bad_lines=BadLines(), max_line_bytes=1 << 24)
    count = 0
    view = memoryview(data)
    for start in range(0, len(data), 1 << 18):
        out: list[Any] = []
        decoder.feed(bytes(view[start : start + (1 << 18)]), out)
        count += len(out)
    out = []
    decoder.finish(out)
    return count + len(out)


def _batches(lines: list[bytes], wrap: bool) -> int:
    from streamer.records import PartInfo, Record

    loads = orjson.loads
    part = PartInfo("bench", 0)
    count = 0
    for start in range(0, len(lines), BATCH):
        if wrap:
            batch = [Record(loads(line), part, n, 0) for n, line in enumerate(lines[start : start + BATCH], start)]
        else:
            batch = [loads(line) for line in lines[start : start + BATCH]]
        count += len(batch)
        del batch
    return count


def _typed(lines: list[bytes]) -> int:
    import msgspec

    from streamer.providers.mews.entities import ENTITIES

    struct = ENTITIES["OrderItem"]
    loads = orjson.loads
    convert = msgspec.convert
    count = 0
    for start in range(0, len(lines), BATCH):
        batch = [convert(loads(line), struct, strict=False) for line in lines[start : start + BATCH]]
        count += len(batch)
        del batch
    return count


def _typed_from_lines(records: list[Any]) -> int:
    """``record.typed()`` of every record: each line decoded straight into its Struct."""
    return sum(1 for record in records if record.typed() is not None)


def _mews_records(lines: list[bytes]) -> list[Any]:
    from streamer.records import PartInfo, Record

    part = PartInfo("mews", 0, entity_type="OrderItem")
    return [Record(None, part, n, 0, line) for n, line in enumerate(lines, 1)]


def parse_block(block: bytes) -> list[Any]:
    """A process-pool worker's job: parse one block of complete lines."""
    loads = orjson.loads
    return [loads(line) for line in block.split(b"\n") if line]


def _blocks(data: bytes) -> list[bytes]:
    blocks, start = [], 0
    while start < len(data):
        end = data.rfind(b"\n", start, start + BLOCK) + 1 if start + BLOCK < len(data) else len(data)
        end = end if end > start else len(data)
        blocks.append(data[start:end])
        start = end
    return blocks


def _pool(blocks: list[bytes], workers: int) -> int:
    count = 0
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(len, [b"warm-up"] * workers))
        start = time.perf_counter()
        for records in pool.map(parse_block, blocks, chunksize=1):
            count += len(records)
        _pool.elapsed = time.perf_counter() - start  # type: ignore[attr-defined]
    return count


def _in_process(blocks: list[bytes]) -> int:
    count = 0
    for block in blocks:
        count += len(parse_block(block))
    return count


def measure_all(data: bytes) -> dict[str, Any]:
    lines = [line for line in data.split(b"\n") if line]
    blocks = _blocks(data)
    mb = len(data) / 1e6
    out: dict[str, Any] = {"mb": mb, "records": len(lines), "batch": BATCH}

    def rate(seconds: float) -> float:
        return mb / seconds

    def with_gc(mode: str, func: Callable[[], int]) -> float:
        if mode == "frozen":
            gc.collect()
            gc.freeze()
            gc.set_threshold(50_000, 50, 100)
        try:
            return rate(_best_of(func)[0])
        finally:
            if mode == "frozen":
                gc.unfreeze()
                gc.set_threshold(700, 10, 10)

    for mode in ("on", "frozen"):
        out[f"drop_each_gc_{mode}"] = with_gc(mode, lambda: _drop_each(lines))
        out[f"batch_dicts_gc_{mode}"] = with_gc(mode, lambda: _batches(lines, wrap=False))
        out[f"batch_records_gc_{mode}"] = with_gc(mode, lambda: _batches(lines, wrap=True))
    out["check_each_gc_on"] = rate(_best_of(lambda: _check_each(lines))[0])
    out["jsonl_decoder_gc_on"] = rate(_best_of(lambda: _jsonl_decoder(data))[0])
    out["typed_convert_gc_on"] = rate(_best_of(lambda: _typed(lines), 1)[0])
    mews_records = _mews_records(lines)
    out["typed_from_line_gc_on"] = rate(_best_of(lambda: _typed_from_lines(mews_records), 1)[0])
    del mews_records
    out["record_cost_pct_gc_on"] = 100 * (out["batch_dicts_gc_on"] / out["batch_records_gc_on"] - 1)
    out["record_cost_pct_gc_frozen"] = 100 * (out["batch_dicts_gc_frozen"] / out["batch_records_gc_frozen"] - 1)

    seconds, count = _best_of(lambda: _in_process(blocks), 1)
    out["blocks_in_process"] = rate(seconds)
    for workers in (1, 2):
        assert _pool(blocks, workers) == count
        out[f"blocks_pool_{workers}_workers"] = rate(_pool.elapsed)  # type: ignore[attr-defined]
    return out


def main() -> None:
    with open(sys.argv[1]) as fh:
        url = fh.readline().strip()
    with urllib.request.urlopen(url, timeout=120) as resp:
        data = resp.read()
    print(json.dumps(measure_all(data)))


if __name__ == "__main__":
    main()
