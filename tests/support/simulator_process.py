"""``streamer simulate`` in a child process, for tests that measure the client alone."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator


@contextlib.contextmanager
def simulator_process(*args: str) -> Iterator[tuple[str, dict]]:
    """Yields (base_url, index) where index is the simulator's GET / listing."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamer.cli.main", "simulate", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:"), base_url
        with urllib.request.urlopen(base_url + "/") as response:
            index = json.load(response)
        yield base_url, index
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
