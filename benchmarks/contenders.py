"""One contender per process: ``python -m benchmarks.contenders NAME URLS_FILE``.

Each contender streams every URL listed in ``URLS_FILE`` (one per line) and
prints one JSON line on stdout: ``{"records": ..., "wire_bytes": ...,
"inner_wall": ...}``.  Running each in its own process is what makes peak RSS
and CPU time per contender (the parent reads them with ``os.wait4``).

The alternatives are written the way a user would write them, each counting
and dropping its records; streamer's contenders deliver batches to a sink
whose ``write`` does nothing (or sleeps, for the slow sink).
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import json
import sys
import time
import zlib
from collections.abc import Callable
from typing import Any

import orjson

CONCURRENCY = 4
"""Parts at once for the concurrent alternatives (streamer's default too)."""
SLOW_SINK_SECONDS = 0.05
"""The slow sink sleeps this long per batch: it, not the parse, sets the pace."""

Contender = Callable[[list[str]], tuple[int, int]]
"""Streams the URLs; returns (records, wire bytes read)."""

CONTENDERS: dict[str, Contender] = {}
OVERRIDES: dict[str, Any] = {}
"""StreamConfig fields given on the command line (scaling runs), for streamer contenders."""


def contender(name: str) -> Callable[[Contender], Contender]:
    def register(func: Contender) -> Contender:
        CONTENDERS[name] = func
        return func

    return register


def _is_gzip(url: str) -> bool:
    return url.split("?", 1)[0].endswith(".gz")


# ------------------------------------------------------------------ limits


@contender("aiohttp-raw")
def aiohttp_raw(urls: list[str]) -> tuple[int, int]:
    """Raw download limit: bytes read and thrown away, 4 parts at once."""
    import aiohttp

    async def one(session: aiohttp.ClientSession, url: str) -> int:
        total = 0
        async with session.get(url) as resp:
            resp.raise_for_status()
            async for chunk in resp.content.iter_any():
                total += len(chunk)
        return total

    async def main() -> int:
        limit = asyncio.Semaphore(CONCURRENCY)
        async with aiohttp.ClientSession(auto_decompress=False, read_bufsize=1 << 18) as session:

            async def bounded(url: str) -> int:
                async with limit:
                    return await one(session, url)

            return sum(await asyncio.gather(*(bounded(u) for u in urls)))

    return 0, asyncio.run(main())


def _download(url: str) -> bytes:
    """A whole part into memory (not timed: the parse limits start after it)."""
    import requests

    with requests.get(url, timeout=60) as resp:
        resp.raise_for_status()
        body = resp.content
    return gzip.decompress(body) if _is_gzip(url) else body


def _timed_in_memory(urls: list[str], parse: Callable[[bytes], int]) -> tuple[int, int, float]:
    records = wire = 0
    spent = 0.0
    for url in urls:
        data = _download(url)
        wire += len(data)
        start = time.perf_counter()
        records += parse(data)
        spent += time.perf_counter() - start
        del data
    return records, wire, spent


def _orjson_lines(data: bytes) -> int:
    loads = orjson.loads
    count = 0
    for line in data.split(b"\n"):
        if line:
            loads(line)
            count += 1
    return count


def _msgspec_blocks(data: bytes) -> int:
    import msgspec

    decode_lines = msgspec.json.Decoder().decode_lines
    count = 0
    block = 1 << 20
    start = 0
    while start < len(data):
        end = data.rfind(b"\n", start, start + block) + 1 if start + block < len(data) else len(data)
        if end <= start:
            end = len(data)
        count += len(decode_lines(data[start:end]))
        start = end
    return count


# -------------------------------------------------------------- streamer


class NullSink:
    """A sink whose write does nothing: what streamer itself costs."""

    def __init__(self) -> None:
        self.records = 0

    async def open(self) -> None:
        return None

    async def write(self, batch: Any) -> None:
        self.records += len(batch.records)

    async def close(self, error: BaseException | None) -> None:
        return None


class SlowSink(NullSink):
    """Sleeps per batch: the download must slow down, not buffer."""

    async def write(self, batch: Any) -> None:
        await asyncio.sleep(SLOW_SINK_SECONDS)
        self.records += len(batch.records)


def _streamer(urls: list[str], sink: NullSink, *, uvloop: bool = False, **config: Any) -> tuple[int, int]:
    from streamer.api import run
    from streamer.engine.config import StreamConfig
    from streamer.providers.urls import UrlSource

    coro = run(UrlSource(urls), sink, config=StreamConfig(**{**config, **OVERRIDES}))
    if uvloop:
        import uvloop as _uvloop

        stats = _uvloop.run(coro)
    else:
        stats = asyncio.run(coro)
    return sink.records, stats.bytes


@contender("streamer-lib")
def streamer_lib(urls: list[str]) -> tuple[int, int]:
    return _streamer(urls, NullSink())


@contender("streamer-lib-records")
def streamer_lib_records(urls: list[str]) -> tuple[int, int]:
    """The streaming consumer: ``async for record in stream_urls(...)``, each record's dict decoded."""
    from streamer.api import stream_urls

    async def main() -> tuple[int, int]:
        count = 0
        async with stream_urls(urls, **OVERRIDES) as records:
            async for record in records:
                record.data
                count += 1
            return count, records.stats.bytes

    return asyncio.run(main())


@contender("streamer-slow-sink")
def streamer_slow(urls: list[str]) -> tuple[int, int]:
    return _streamer(urls, SlowSink())


@contender("streamer-lib-uvloop")
def streamer_uvloop(urls: list[str]) -> tuple[int, int]:
    return _streamer(urls, NullSink(), uvloop=True)


@contender("streamer-lib-app-gc")
def streamer_app_gc(urls: list[str]) -> tuple[int, int]:
    """What an application (not the library) may do: the CLI's GC settings."""
    from streamer.cli.execute import tune_gc

    tune_gc()
    return _streamer(urls, NullSink())


@contender("streamer-lib-small-batches")
def streamer_small_batches(urls: list[str]) -> tuple[int, int]:
    """Fewer records alive at once: batches of 200, two batches queued."""
    return _streamer(urls, NullSink(), batch_size=200, queue_batches=2)


# ------------------------------------------------------------ alternatives


@contender("requests-json")
def requests_json(urls: list[str]) -> tuple[int, int]:
    """Airbyte CDK style: requests, ``iter_lines()``, ``json.loads``, one part after another."""
    import requests

    records = wire = 0
    with requests.Session() as session:
        for url in urls:
            with session.get(url, stream=True, timeout=60) as resp:
                resp.raise_for_status()
                if _is_gzip(url):
                    lines = gzip.GzipFile(fileobj=resp.raw)
                else:
                    lines = resp.iter_lines()
                for line in lines:
                    if line.strip():
                        json.loads(line)
                        records += 1
                wire += resp.raw.tell()
    return records, wire


def _aiohttp_lines(loads: Callable[[bytes], Any]) -> Contender:
    def run_it(urls: list[str]) -> tuple[int, int]:
        import aiohttp

        async def one(session: aiohttp.ClientSession, url: str) -> tuple[int, int]:
            records = 0
            async with session.get(url) as resp:
                resp.raise_for_status()
                async for line in resp.content:
                    if line.strip():
                        loads(line)
                        records += 1
                return records, resp.content.total_bytes

        return _gather(urls, one)

    return run_it


CONTENDERS["aiohttp-lines-json"] = _aiohttp_lines(json.loads)
CONTENDERS["aiohttp-lines-orjson"] = _aiohttp_lines(orjson.loads)


def _aiohttp_chunks(decode_chunk: Callable[[], Callable[[bytes], int]]) -> Contender:
    """``iter_any`` chunks, gunzip when needed, split at the last newline, decode."""

    def run_it(urls: list[str]) -> tuple[int, int]:
        import aiohttp

        async def one(session: aiohttp.ClientSession, url: str) -> tuple[int, int]:
            decode = decode_chunk()
            inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if _is_gzip(url) else None
            records = wire = 0
            tail = b""
            async with session.get(url) as resp:
                resp.raise_for_status()
                async for chunk in resp.content.iter_any():
                    wire += len(chunk)
                    if inflate is not None:
                        chunk = inflate.decompress(chunk)
                        while inflate.eof and inflate.unused_data:
                            rest = inflate.unused_data
                            inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
                            chunk += inflate.decompress(rest)
                    cut = chunk.rfind(b"\n") + 1
                    if not cut:
                        tail += chunk
                        continue
                    records += decode(tail + chunk[:cut])
                    tail = chunk[cut:]
            if tail.strip():
                records += decode(tail)
            return records, wire

        return _gather(urls, one)

    return run_it


def _orjson_split() -> Callable[[bytes], int]:
    return _orjson_lines


def _msgspec_decode_lines() -> Callable[[bytes], int]:
    import msgspec

    decode_lines = msgspec.json.Decoder().decode_lines
    return lambda data: len(decode_lines(data))


CONTENDERS["aiohttp-chunks-orjson"] = _aiohttp_chunks(_orjson_split)
CONTENDERS["aiohttp-chunks-msgspec"] = _aiohttp_chunks(_msgspec_decode_lines)


def _gather(urls: list[str], one: Callable[..., Any]) -> tuple[int, int]:
    import aiohttp

    async def main() -> list[tuple[int, int]]:
        limit = asyncio.Semaphore(CONCURRENCY)
        async with aiohttp.ClientSession(auto_decompress=False) as session:

            async def bounded(url: str) -> tuple[int, int]:
                async with limit:
                    return await one(session, url)

            return await asyncio.gather(*(bounded(u) for u in urls))

    results = asyncio.run(main())
    return sum(r for r, _ in results), sum(w for _, w in results)


IN_MEMORY: dict[str, Callable[[bytes], int]] = {
    "orjson-parse-limit": _orjson_lines,
    "msgspec-parse-limit": _msgspec_blocks,
}
"""Parse limits: the part is downloaded first, only the parse is timed."""


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (2, 3):
        raise SystemExit("usage: python -m benchmarks.contenders NAME URLS_FILE [STREAM_CONFIG_JSON]")
    name, urls_file = args[:2]
    if len(args) == 3:
        OVERRIDES.update(json.loads(args[2]))
    with open(urls_file) as fh:
        urls = [line.strip() for line in fh if line.strip()]
    if name in IN_MEMORY:
        records, wire, inner = _timed_in_memory(urls, IN_MEMORY[name])
    elif name in CONTENDERS:
        start = time.perf_counter()
        records, wire = CONTENDERS[name](urls)
        inner = time.perf_counter() - start
    else:
        raise SystemExit(f"unknown contender {name!r}; known: {', '.join(sorted([*CONTENDERS, *IN_MEMORY]))}")
    print(json.dumps({"records": records, "wire_bytes": wire, "inner_wall": inner, "gc_enabled": gc.isenabled()}))


if __name__ == "__main__":
    main()
