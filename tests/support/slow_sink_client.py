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
        "peak_rss_mb": _peak_rss_mb(),
    }


def _peak_rss_mb() -> float:
    """This process's own peak RSS.

    Not ``getrusage().ru_maxrss``: Linux carries the *parent's* peak over
    fork+exec into it, so a child of a big pytest process reported the
    parent's size (measured: a 10 MB child of a 300 MB parent showed 311 MB).
    ``VmHWM`` belongs to the exec'd image alone.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    delay = float(sys.argv[1])
    print(json.dumps(asyncio.run(main(sys.argv[2:], delay))))
