"""Start-up cost of the CLI: wall time and what gets imported.

Prints, for ``streamer --help``, ``streamer urls --help``, ``import streamer``
and a tiny ``streamer urls`` run (one 3-record file served on 127.0.0.1):
the median wall time of ``--runs`` fresh interpreters, and the heaviest
imports of one run by ``python -X importtime`` (cumulative microseconds).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CLI = "from streamer.cli.main import main; main()"  # what the console script runs


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def _tiny_server(directory: Path) -> Iterator[str]:
    """A 3-record JSONL file served on 127.0.0.1 for the duration."""
    (directory / "tiny.jsonl").write_bytes(b'{"Id": 1}\n{"Id": 2}\n{"Id": 3}\n')
    handler = functools.partial(_QuietHandler, directory=str(directory))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/tiny.jsonl"
        finally:
            server.shutdown()


def _wall(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


_LINE = re.compile(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)")


def _heaviest(argv: list[str], top: int) -> tuple[int, list[tuple[int, str]]]:
    """(modules imported, the ``top`` packages by the import time of their own modules)."""
    done = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]], capture_output=True, text=True, check=True
    )
    by_package: dict[str, int] = {}
    count = 0
    for match in map(_LINE.match, done.stderr.splitlines()):
        if match:
            count += 1
            name = match[2]
            package = ".".join(name.split(".")[:2]) if name.startswith("streamer.") else name.split(".")[0]
            by_package[package] = by_package.get(package, 0) + int(match[1])
    return count, sorted(((us, name) for name, us in by_package.items()), reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--top", type=int, default=6)
    args = parser.parse_args()
    python = sys.executable
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"streamer-startup-{os.getpid()}"
    tmp.mkdir(exist_ok=True)
    with _tiny_server(tmp) as url:
        cases = {
            "streamer --help": [python, "-c", CLI, "--help"],
            "streamer urls --help": [python, "-c", CLI, "urls", "--help"],
            "import streamer": [python, "-c", "import streamer"],
            "streamer -q urls <3 records>": [python, "-c", CLI, "-q", "urls", url],
            "python -c pass (floor)": [python, "-c", "pass"],
        }
        print(f"{'command':32} {'median s':>9} {'modules':>8}  heaviest packages (ms of their own modules)")
        for label, argv in cases.items():
            seconds = _wall(argv, args.runs)
            count, heavy = _heaviest(argv, args.top)
            listed = ", ".join(f"{name} {us / 1000:.0f}" for us, name in heavy)
            print(f"{label:32} {seconds:9.3f} {count:8}  {listed}")


if __name__ == "__main__":
    main()
