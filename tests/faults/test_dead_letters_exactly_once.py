"""Dead letters are committed with their batch: ``kill -9`` and rerun, each bad line once.

The CLI runs as a subprocess against a slow local server (which honours
``Range`` so a rerun resumes mid-file) and is killed with SIGKILL twice, at
different points, before a third run finishes.  The decoder reads ahead of
what the sink has committed, so bad lines read after the last checkpoint are
read again by each rerun: the dead-letter file must still hold each of them
exactly once, and the output every good record exactly once.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from tests.support.faults import assert_exactly_once
from tests.support.local_server import serve_locally
from tests.support.processes import reaped

pytestmark = [pytest.mark.faults, pytest.mark.timeout(150)]

PARTS = ("a.jsonl", "b.jsonl")
LINES = 2400
BAD_EVERY = 37


def _body(name: str) -> bytes:
    lines = []
    for i in range(1, LINES + 1):
        if i % BAD_EVERY == 0:
            lines.append(b'{"Id": "broken ' + name.encode() + b" " + str(i).encode() + b'", oops}')
        else:
            lines.append(orjson.dumps({"Id": f"{name}-{i}", "n": i, "pad": "x" * 40}))
    return b"\n".join(lines) + b"\n"


FILES = {name: _body(name) for name in PARTS}
BAD = {(name, i) for name in PARTS for i in range(BAD_EVERY, LINES + 1, BAD_EVERY)}
GOOD_IDS = [f"{name}-{i}" for name in PARTS for i in range(1, LINES + 1) if i % BAD_EVERY]


class SlowServer:
    """Serves ``FILES`` with ``Range`` support, ``bytes_per_second`` at a time (None: at once)."""

    def __init__(self) -> None:
        self.bytes_per_second: float | None = 60_000

    async def handler(self, request: web.Request) -> web.StreamResponse:
        body = FILES[request.match_info["name"]]
        start = 0
        headers = {"ETag": '"v1"', "Accept-Ranges": "bytes"}
        status = 200
        if (wanted := request.headers.get("Range", "")).startswith("bytes="):
            start = int(wanted[6:].split("-", 1)[0])
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
        response = web.StreamResponse(status=status, headers=headers)
        response.content_type = "application/x-ndjson"
        response.content_length = len(body) - start
        await response.prepare(request)
        step = 1024
        try:
            for offset in range(start, len(body), step):
                await response.write(body[offset : offset + step])
                if self.bytes_per_second:
                    await asyncio.sleep(step / self.bytes_per_second)
            await response.write_eof()
        except ConnectionResetError:  # the client was killed: expected here
            pass
        return response


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, SlowServer]]:
    slow = SlowServer()
    app = web.Application()
    app.router.add_get("/{name}", slow.handler)
    async with serve_locally(app, shutdown_timeout=0.2) as base_url:
        yield base_url, slow


def _dead_letters(path: Path) -> Counter[tuple[str, int]]:
    """The dead letters in whole lines: read while a run appends (or after ``kill -9``
    cut a write short), the file may end in a torn line, which the next run cuts off."""
    data = path.read_bytes()
    found: Counter[tuple[str, int]] = Counter()
    for line in data[: data.rfind(b"\n") + 1].splitlines():
        entry = orjson.loads(line)
        name = entry["part"].split("(", 1)[1].rstrip(")")
        assert entry["raw"] == FILES[name][entry["offset"] :].split(b"\n", 1)[0].decode()  # its place is right
        found[(name, entry["line"])] += 1
    return found


def _ids(tmp_path: Path, sink: str) -> list[str]:
    if sink == "jsonl":
        return [orjson.loads(line)["Id"] for line in (tmp_path / "out.jsonl").read_bytes().splitlines()]
    import sqlite3

    with sqlite3.connect(tmp_path / "out.db") as conn:
        return [row[0] for row in conn.execute("SELECT id FROM urls")]


@pytest.mark.parametrize("sink", ["jsonl", "sqlite"])
async def test_each_bad_line_is_dead_lettered_once_across_kill_9_and_reruns(server, tmp_path: Path, sink: str):
    base, slow = server
    dead = tmp_path / "dead.jsonl"
    args = [sys.executable, "-m", "streamer.cli.main", "-q", "urls", *(f"{base}/{name}" for name in PARTS),
            "--batch-size", "40", "--concurrency", "2", "--bad-lines", "skip", "--dead-letter", str(dead)]
    if sink == "jsonl":
        args += ["--state", str(tmp_path / "state.json"), "-o", str(tmp_path / "out.jsonl")]
    else:
        args += ["--sink", f"sqlite:///{tmp_path / 'out.db'}"]

    for wanted in (len(BAD) // 4, len(BAD) // 2):  # kill once a quarter, then half, of the bad lines are on disk
        process = await asyncio.create_subprocess_exec(*args, stderr=asyncio.subprocess.PIPE)
        async with reaped(process):  # killed with SIGKILL on the way out
            for _ in range(3000):
                if dead.exists() and sum(_dead_letters(dead).values()) >= wanted:
                    break
                assert process.returncode is None, (await process.stderr.read()).decode()  # type: ignore[union-attr]
                await asyncio.sleep(0.01)
        assert process.returncode == -signal.SIGKILL
        letters = _dead_letters(dead)
        assert max(letters.values()) == 1, [k for k, n in letters.items() if n > 1]

    slow.bytes_per_second = None
    process = await asyncio.create_subprocess_exec(*args, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    letters = _dead_letters(dead)
    assert set(letters) == BAD, (sorted(BAD - set(letters))[:5], sorted(set(letters) - BAD)[:5])
    assert all(n == 1 for n in letters.values()), [k for k, n in letters.items() if n > 1][:5]
    assert_exactly_once(_ids(tmp_path, sink), GOOD_IDS, f"{sink} after two kill -9 and a rerun")
