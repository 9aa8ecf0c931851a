"""Every user mistake ends the CLI with one line on stderr and its exit code, never a traceback.

Each case runs the real command in a subprocess (``-q``, so only errors reach
stderr) against a server on 127.0.0.1 that counts what it was asked: a bad
path must be refused *before* anything is downloaded.
"""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

STREAMER = [sys.executable, "-m", "streamer.cli.main", "-q"]
RECORDS = b'{"Id": 1}\n{"Id": 2}\n{"Id": 3}\n'
HTML_404 = (
    b"<!DOCTYPE html>\n<html><head><title>404 Not Found \xe2\x80\x93 Example CDN</title></head>\n<body>"
    + b"<p>The page you asked for is not here.</p>\n" * 200
    + b"</body></html>\n"
)


@dataclass
class Server:
    base: str
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def server() -> Iterator[Server]:
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            seen.append(self.path)
            if self.path == "/data.jsonl":
                self._reply(200, "application/x-ndjson", RECORDS)
            else:
                self._reply(404, "text/html; charset=utf-8", HTML_404)

        def _reply(self, status: int, media_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", media_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{httpd.server_address[1]}", seen)
    finally:
        httpd.shutdown()
        httpd.server_close()


def streamer(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*STREAMER, *args], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})


def one_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The single stderr line of a run that exited with ``code``."""
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("streamer: ")
    return lines[0]


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[list[Path]]:
    """Paths appended to the list are made read-only, even for root (``chattr +i``), until teardown."""
    paths: list[Path] = []
    yield paths
    for path in paths:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], check=False)
        path.chmod(0o755)


def make_read_only(paths: list[Path], path: Path) -> None:
    path.chmod(0o555 if path.is_dir() else 0o444)
    paths.append(path)
    if os.geteuid() == 0:  # root ignores mode bits; the immutable flag binds root too
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)]).returncode != 0:
            pytest.skip("running as root on a file system without chattr +i: cannot make a read-only path")


def test_url_without_a_scheme_is_a_usage_error(tmp_path: Path) -> None:
    line = one_line(streamer("urls", "example.com/export.jsonl", cwd=tmp_path), 2)
    assert "example.com/export.jsonl has no scheme" in line


def test_non_http_scheme_is_a_usage_error(tmp_path: Path) -> None:
    line = one_line(streamer("urls", "ftp://example.com/export.jsonl", cwd=tmp_path), 2)
    assert "'ftp'" in line and "http" in line


def test_output_into_a_missing_directory_fails_before_downloading(server: Server, tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "out.jsonl"
    result = streamer("urls", f"{server.base}/data.jsonl", "-o", str(missing), cwd=tmp_path)
    line = one_line(result, 1)
    assert "-o/--output" in line and "no" in line
    assert server.requests == []


def test_read_only_output_file_fails_before_downloading(server: Server, tmp_path: Path, read_only: list[Path]) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"")
    make_read_only(read_only, out)
    line = one_line(streamer("urls", f"{server.base}/data.jsonl", "-o", str(out), cwd=tmp_path), 1)
    assert "out.jsonl is not writable" in line
    assert server.requests == []


@pytest.mark.parametrize("url", ["sqlite:///ro/x.db", "duckdb:///ro/x.duckdb", "dir:///ro/out", "jsonl:///ro/x.jsonl"])
def test_read_only_sink_path_fails_before_downloading(
    server: Server, tmp_path: Path, read_only: list[Path], url: str
) -> None:
    (tmp_path / "ro").mkdir()
    make_read_only(read_only, tmp_path / "ro")
    line = one_line(streamer("urls", f"{server.base}/data.jsonl", "--sink", url, cwd=tmp_path), 1)
    assert f"sink {url}" in line and "directory ro is not writable" in line
    assert server.requests == []


def test_existing_database_in_a_read_only_directory_fails_before_downloading(
    server: Server, tmp_path: Path, read_only: list[Path]
) -> None:
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "x.db").write_bytes(b"")
    make_read_only(read_only, tmp_path / "ro")
    line = one_line(streamer("urls", f"{server.base}/data.jsonl", "--sink", "sqlite:///ro/x.db", cwd=tmp_path), 1)
    assert "directory ro is not writable" in line
    assert server.requests == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_no_space_left_is_one_line(server: Server, tmp_path: Path) -> None:
    line = one_line(streamer("urls", f"{server.base}/data.jsonl", "-o", "/dev/full", cwd=tmp_path), 1)
    assert "No space left on device" in line


def test_unwritable_dead_letter_path_fails_before_downloading(
    server: Server, tmp_path: Path, read_only: list[Path]
) -> None:
    (tmp_path / "ro").mkdir()
    make_read_only(read_only, tmp_path / "ro")
    result = streamer("urls", f"{server.base}/data.jsonl", "--bad-lines", "skip", "--dead-letter", "ro/bad.jsonl",
                      cwd=tmp_path)
    line = one_line(result, 1)
    assert "--dead-letter" in line and "ro/bad.jsonl" in line
    assert server.requests == []


def test_404_with_an_html_page_is_one_short_line(server: Server, tmp_path: Path) -> None:
    line = one_line(streamer("urls", f"{server.base}/gone.jsonl", cwd=tmp_path), 1)
    assert "404" in line and "404 Not Found – Example CDN" in line
    assert "<" not in line and "not here" not in line  # the title, not the page
    assert len(line) < 300


def test_internal_error_is_one_line_with_a_hint(tmp_path: Path) -> None:
    """An exception nobody anticipated still ends in one line, pointing at -vv."""
    from streamer.cli.execute import describe_failure

    line = describe_failure(KeyError("multi\nline"))
    assert line.startswith("internal error: KeyError") and line.endswith("(run with -vv for the traceback)")
    assert "\n" not in line


def test_a_task_groups_error_is_reported_by_its_first_real_error(capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from streamer.cli.execute import fail
    from streamer.errors import ConfigError

    group = BaseExceptionGroup("unhandled errors in a TaskGroup", [asyncio.CancelledError(), ConfigError("bad sink")])
    with pytest.raises(SystemExit) as exited:
        fail(BaseExceptionGroup("outer", [group]))
    assert exited.value.code == 1
    assert capsys.readouterr().err == "streamer: error: bad sink\n"


def test_sink_with_a_conflicting_format_is_a_usage_error(server: Server, tmp_path: Path) -> None:
    result = streamer("urls", f"{server.base}/data.jsonl", "--sink", "sqlite:///x.db", "--format", "singer",
                      cwd=tmp_path)
    line = one_line(result, 2)
    assert "--sink" in line and "--format" in line
    assert server.requests == [] and not (tmp_path / "x.db").exists()


def test_sink_with_output_is_a_usage_error(server: Server, tmp_path: Path) -> None:
    result = streamer("urls", f"{server.base}/data.jsonl", "--sink", "-", "-o", "out.jsonl", cwd=tmp_path)
    assert "-o/--output" in one_line(result, 2)


def test_dead_letter_without_skip_is_a_usage_error(server: Server, tmp_path: Path) -> None:
    result = streamer("urls", f"{server.base}/data.jsonl", "--dead-letter", "bad.jsonl", cwd=tmp_path)
    assert "--bad-lines skip" in one_line(result, 2)
    assert server.requests == []


@pytest.mark.parametrize("output", [["--format", "singer"], ["--sink", "sqlite:///x.db"]])
def test_metadata_outside_jsonl_is_a_usage_error(server: Server, tmp_path: Path, output: list[str]) -> None:
    result = streamer("urls", f"{server.base}/data.jsonl", "--with-metadata", *output, cwd=tmp_path)
    assert "--with-metadata" in one_line(result, 2)
    assert server.requests == []


def test_the_same_options_without_the_conflict_run(server: Server, tmp_path: Path) -> None:
    """The conflict checks refuse only conflicts: each option alone still works."""
    result = streamer("urls", f"{server.base}/data.jsonl", "--format", "singer", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count('"type":"RECORD"') == 3
    result = streamer("urls", f"{server.base}/data.jsonl", "--sink", "sqlite:///x.db", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "x.db").exists()
    result = streamer("urls", f"{server.base}/data.jsonl", "--with-metadata", "--sink", "jsonl:-", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count('"_streamer"') == 3
