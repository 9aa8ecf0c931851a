"""Child processes: the simulator, and one measured process per contender run.

Peak RSS and CPU time come from ``os.wait4`` on that very child, so every
figure belongs to one contender run and nothing else (the simulator is a
separate child, never counted).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Export:
    """What a running simulator serves: one export's file URLs and sizes."""

    base_url: str
    urls: list[str]
    sizes: list[int]
    records: int

    @property
    def wire_bytes(self) -> int:
        return sum(self.sizes)


class SimulatorProcess:
    """``streamer simulate`` on 127.0.0.1 (a free port) in its own process."""

    def __init__(self, *, records: int, parts: int, gzip: bool, seed: int = 0) -> None:
        self.args = [
            sys.executable, "-m", "streamer.cli.main", "-q", "simulate",
            "--port", "0", "--seed", str(seed), "--records", str(records),
            "--parts", str(parts), "--url-ttl", "86400",
        ]  # fmt: skip
        if gzip:
            self.args.append("--gzip")
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Export:
        self.proc = subprocess.Popen(self.args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert self.proc.stdout is not None
        base_url = self.proc.stdout.readline().decode().strip()
        if not base_url.startswith("http://127.0.0.1:"):
            self.__exit__()
            raise RuntimeError(f"simulator did not start ({self.args}): {base_url!r}")
        # Listing a gzip export compresses it once to index its members: allow time.
        with urllib.request.urlopen(base_url + "/", timeout=600) as resp:
            listing = json.load(resp)
        export = listing["Exports"][0]
        files = export["Files"]
        return Export(base_url, [f["Url"] for f in files], [f["SizeInBytes"] for f in files], export["Records"])

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


@dataclass
class Measured:
    wall: float
    """Seconds from process start to exit (interpreter start included)."""
    cpu: float
    """User + system CPU seconds of the child."""
    peak_rss_mb: float
    stdout: str
    stderr: str


def measure(cmd: list[str], *, stdout_to_devnull: bool = False, timeout: float = 3600) -> Measured:
    """Run ``cmd`` to completion; its own wall, CPU and peak RSS."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sink = subprocess.DEVNULL if stdout_to_devnull else out
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=sink, stderr=err)
        # A blocking wait4 (no polling loop stealing CPU from the contender); a timer kills a hung child.
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - started
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
            raise RuntimeError(f"timed out after {timeout}s: {cmd[:6]}")
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])}... exited {proc.returncode}: {stderr[-2000:]}")
    return Measured(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stdout, stderr)


# ------------------------------------------------------------------ contenders

_SUMMARY = re.compile(r"streamer: (\d+) records from \d+ parts, ([\d.]+) MB")

CLI_NO_GC_TUNING = (
    "import sys, streamer.cli.execute as e; e.tune_gc = lambda: None; "
    "from streamer.cli.main import main; sys.argv[0] = 'streamer'; main()"
)


def run_contender(name: str, urls_file: Path, urls: list[str], config: dict[str, Any] | None = None) -> dict[str, Any]:
    """One run of one contender; a flat dict of what was measured."""
    py = sys.executable
    if name == "curl-raw":
        cmd = ["curl", "-sS", "--parallel", "--parallel-max", "4", "-w", "%{size_download}\\n"]
        for url in urls:
            cmd += ["-o", "/dev/null", url]
        m = measure(cmd)
        return _row(m, records=0, wire=sum(int(x) for x in m.stdout.split()), inner=m.wall)
    if name.startswith("streamer-cli"):
        if name == "streamer-cli":
            cmd = [py, "-m", "streamer.cli.main", "urls", *urls]
        elif name == "streamer-cli-no-gc-tuning":
            cmd = [py, "-c", CLI_NO_GC_TUNING, "urls", *urls]
        else:
            raise ValueError(name)
        m = measure(cmd, stdout_to_devnull=True)
        match = _SUMMARY.search(m.stderr)
        if not match:
            raise RuntimeError(f"{name}: no summary on stderr: {m.stderr[-500:]}")
        return _row(m, records=int(match.group(1)), wire=round(float(match.group(2)) * 1e6), inner=m.wall)
    cmd = [py, "-m", "benchmarks.contenders", name, str(urls_file)]
    if config:
        cmd.append(json.dumps(config))
    m = measure(cmd)
    result = json.loads(m.stdout.strip().splitlines()[-1])
    return _row(m, records=result["records"], wire=result["wire_bytes"], inner=result["inner_wall"])


def _row(m: Measured, *, records: int, wire: int, inner: float) -> dict[str, Any]:
    return {
        "wall": m.wall,
        "inner_wall": inner,
        "cpu": m.cpu,
        "peak_rss_mb": m.peak_rss_mb,
        "records": records,
        "wire_bytes": wire,
    }
