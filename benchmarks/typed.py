"""Typed records, side by side (``python -m benchmarks.typed --size-mb 100``).

One simulator (Mews OrderItems, plain JSON Lines) serves the same URLs to:

* ``streamer typed=`` — ``stream_urls(urls, typed=OrderItem)``: every record
  as an ``OrderItem`` Struct, decoded per batch from the raw lines;
* ``streamer records, each typed`` — the same stream of records, each typed
  by the consumer (``record.typed()``'s path): typing before batch-level typing;
* ``aiohttp + msgspec decode_lines`` — the hand-written loop: ``iter_any``
  chunks split at the last newline and handed to
  ``Decoder(OrderItem).decode_lines`` (the contenders' chunk loop, same
  concurrency as streamer's default).

Each is run ``--repeats`` times in turn (order rotated, so a slow minute on
the shared machine hits each); the median wall time gives records/s.  Then,
in memory, the two ways of typing one 1000-record batch: joined lines and one
``decode_lines`` call, against a cached decoder called per line.

Prints a Markdown table (and ``--json`` the figures) on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import urllib.request
from collections.abc import Callable

import msgspec

from benchmarks.contenders import CONCURRENCY, _aiohttp_chunks
from benchmarks.procs import SimulatorProcess
from benchmarks.run import records_for
from streamer.providers.mews.entities import OrderItem

BATCH = 1000
IN_MEMORY_RECORDS = 50_000
"""Lines typed per in-memory repeat (one part's lines, repeated): enough to outlast the shared machine's noise."""


def _typed_decode_lines() -> Callable[[bytes], int]:
    decode_lines = msgspec.json.Decoder(OrderItem, strict=False).decode_lines
    return lambda data: len(decode_lines(data))


_hand_written = _aiohttp_chunks(_typed_decode_lines)


def hand_written(urls: list[str]) -> int:
    return _hand_written(urls)[0]


def streamer_typed(urls: list[str]) -> int:
    from streamer import stream_urls

    async def main() -> int:
        count = 0
        async with stream_urls(urls, typed=OrderItem, concurrency=CONCURRENCY) as items:
            async for _ in items:
                count += 1
        return count

    return asyncio.run(main())


def streamer_per_record(urls: list[str]) -> int:
    from streamer import stream_urls
    from streamer.typed import typed_record

    async def main() -> int:
        count = 0
        async with stream_urls(urls, concurrency=CONCURRENCY) as records:
            async for record in records:
                typed_record(record, OrderItem)  # what record.typed() does, with the Struct named
                count += 1
        return count

    return asyncio.run(main())


CONTENDERS: dict[str, Callable[[list[str]], int]] = {
    "streamer stream_urls(typed=OrderItem)": streamer_typed,
    "streamer records, each typed (record.typed())": streamer_per_record,
    "aiohttp + msgspec Decoder(OrderItem).decode_lines": hand_written,
}


def in_memory(lines: list[bytes], repeats: int) -> dict[str, float]:
    """Records/s of typing batches of :data:`BATCH` lines, both ways."""
    decoder = msgspec.json.Decoder(OrderItem, strict=False)
    batches = [lines[i : i + BATCH] for i in range(0, len(lines), BATCH)]

    def joined() -> None:
        for batch in batches:
            decoder.decode_lines(b"\n".join(batch))

    def per_line() -> None:
        decode = decoder.decode
        for batch in batches:
            [decode(line) for line in batch]

    ways = {"joined lines, one decode_lines call": joined, "cached decoder, per line": per_line}
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(repeats):
        for name, way in ways.items():
            start = time.perf_counter()
            way()
            times[name].append(time.perf_counter() - start)
    return {name: len(lines) / statistics.median(t) for name, t in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=100)
    parser.add_argument("--parts", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args(argv)

    with SimulatorProcess(records=records_for(args.size_mb), parts=args.parts, gzip=False) as export:
        urls = export.urls
        times: dict[str, list[float]] = {name: [] for name in CONTENDERS}
        names = list(CONTENDERS)
        for name in names:  # warm-up, untimed: imports, first connections
            CONTENDERS[name](urls[:1])
        for repeat in range(args.repeats):
            for name in names[repeat % len(names):] + names[: repeat % len(names)]:
                start = time.perf_counter()
                count = CONTENDERS[name](urls)
                times[name].append(time.perf_counter() - start)
                if count != export.records:
                    raise SystemExit(f"{name}: {count} records, the export has {export.records}")
        with urllib.request.urlopen(urls[0], timeout=600) as resp:
            sample = resp.read().splitlines()

    rates = {name: export.records / statistics.median(t) for name, t in times.items()}
    baseline = rates["aiohttp + msgspec Decoder(OrderItem).decode_lines"]
    memory = in_memory((sample * (IN_MEMORY_RECORDS // len(sample) + 1))[:IN_MEMORY_RECORDS], max(5, args.repeats))
    mb = export.wire_bytes / 1e6
    print(f"{export.records:,} Mews OrderItems, {mb:.0f} MB in {len(urls)} parts, "
          f"concurrency {CONCURRENCY}, median of {args.repeats}\n")
    print("| contender | median s | records/s | vs hand-written |")
    print("|---|---:|---:|---:|")
    for name, t in times.items():
        print(f"| {name} | {statistics.median(t):.2f} | {rates[name]:,.0f} | {rates[name] / baseline:.2f}x |")
    print(f"\nTyping batches of {BATCH} in memory ({IN_MEMORY_RECORDS:,} records, median of {max(5, args.repeats)}):\n")
    print("| way | records/s |")
    print("|---|---:|")
    for name, rate in memory.items():
        print(f"| {name} | {rate:,.0f} |")
    if args.json:
        print(json.dumps({"records": export.records, "wire_bytes": export.wire_bytes, "times": times,
                          "records_per_s": rates, "in_memory": memory}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
