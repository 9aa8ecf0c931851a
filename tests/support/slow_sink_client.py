"""Stream URLs into a deliberately slow sink; print records and peak RSS as JSON.

Run as a separate process so its peak RSS is the client's alone (the
simulator runs in another process).
"""

import asyncio
import json
import resource
import sys

import streamer


async def main(urls: list[str], delay: float) -> dict:
    records = 0

    async def slow(batch: streamer.Batch) -> None:
        nonlocal records
        records += len(batch.records)
        await asyncio.sleep(delay)

    stats = await streamer.run(streamer.UrlSource(urls), streamer.CallbackSink(slow), concurrency=4)
    return {
        "records": records,
        "bytes": stats.bytes,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


if __name__ == "__main__":
    delay = float(sys.argv[1])
    print(json.dumps(asyncio.run(main(sys.argv[2:], delay))))
