"""``streamer simulate`` in a child process, for tests that measure the client alone."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping
from typing import IO


@contextlib.contextmanager
def simulator_process(*args: str) -> Iterator[tuple[str, dict]]:
    """Yields (base_url, index) where index is the simulator's GET / listing."""
    argv = [sys.executable, "-m", "streamer.cli.main", "simulate", "--port", "0", *args]
    with simulator_child(argv, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"}) as base_url:
        with urllib.request.urlopen(base_url + "/") as response:
            index = json.load(response)
        yield base_url, index


@contextlib.contextmanager
def simulator_child(argv: list[str], *, stderr: IO[str] | int, env: Mapping[str, str]) -> Iterator[str]:
    """Runs ``argv`` (a ``streamer simulate`` command) until the block ends; yields the base URL it prints.

    The one place that knows how a simulator child starts (its first stdout
    line) and stops (SIGTERM, then a kill after 10 s).
    """
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:"), base_url
        yield base_url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
