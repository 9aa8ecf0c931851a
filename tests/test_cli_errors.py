"""Every user mistake ends the CLI with one line on stderr and its exit code, never a traceback.

Each case runs the real command in a subprocess (``-q``, so only errors reach
stderr) against a server on 127.0.0.1 that counts what it was asked: a bad
path must be refused *before* anything is downloaded.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.read_only import make_read_only, read_only  # noqa: F401  (fixture)

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
            elif self.path == "/escaped.jsonl":
                self._reply(403, "text/html", b"<html><title>Tom &amp; Jerry&#39;s CDN</title></html>")
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
    assert "internal error" not in lines[0]
    return lines[0]




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
    assert line.endswith(": /dev/full")  # which of the run's files filled up


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


# ------------------------------------------------ files that are not regular files


@pytest.mark.parametrize(
    "args",
    [
        ["--state", "/dev/full"],
        ["--state", "/dev/zero"],  # read whole, it would never end
        ["--bad-lines", "skip", "--dead-letter", "/dev/full"],
        ["--bad-lines", "skip", "--dead-letter", "/dev/zero"],
    ],
)
def test_state_or_dead_letter_on_a_device_fails_before_downloading(
    server: Server, tmp_path: Path, args: list[str]
) -> None:
    if not Path(args[-1]).exists():
        pytest.skip(f"needs {args[-1]}")
    line = one_line(streamer("urls", f"{server.base}/data.jsonl", *args, cwd=tmp_path), 1)
    assert f"{args[-2]}: {args[-1]} is not a regular file" in line
    assert server.requests == []


@pytest.mark.parametrize("device", ["/dev/null", "/dev/stdout"])
def test_output_to_a_device_still_works(server: Server, tmp_path: Path, device: str) -> None:
    result = streamer("urls", f"{server.base}/data.jsonl", "-o", device, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count('"Id"') == (3 if device == "/dev/stdout" else 0)


def test_state_store_refuses_a_device_without_reading_it() -> None:
    from streamer.state.jsonfile import JsonFileStateStore
    from streamer.state.store import StateError

    store = JsonFileStateStore(Path("/dev/zero"))
    with pytest.raises(StateError, match=r"/dev/zero.*not a regular file"):
        store.read()


def test_read_regular_file_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    from streamer.files import read_regular_file

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        read_regular_file(fifo)
    with pytest.raises(IsADirectoryError):
        read_regular_file(tmp_path)
    (tmp_path / "f").write_bytes(b"abc")
    assert read_regular_file(tmp_path / "f") == b"abc"


# ------------------------------------------------ broken URLs


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://", "URL http:// names no host"),
        ("http://[::1", "Invalid IPv6 URL"),
        ("http://127.0.0.1:99999/a.jsonl", "Port out of range"),
        ("http://user:secret@127.0.0.1:0/a.jsonl?sig=s3cr3t", "URL http://127.0.0.1:0/a.jsonl names port 0"),
        ("file://otherhost/etc/hostname", "names host 'otherhost'"),
    ],
)
def test_a_broken_url_is_a_usage_error(tmp_path: Path, url: str, why: str) -> None:
    line = one_line(streamer("urls", url, cwd=tmp_path), 2)
    assert why in line
    assert "secret" not in line and "s3cr3t" not in line


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://", "is not a valid address"),
        ("http://user:pw123456@/a.jsonl?sig=s3cr3tvalue", r"URL http:///a\.jsonl is not a valid address"),
        ("file://otherhost/etc/hostname", "names host 'otherhost'"),
    ],
)
def test_the_engine_names_the_part_of_a_broken_url(url: str, why: str) -> None:
    """Library users get a PartError too, not aiohttp's InvalidURL or the local /etc/hostname."""
    from streamer import HTTPConfig, StreamConfig
    from streamer.api import stream_urls
    from streamer.errors import PartError

    async def main() -> list[object]:
        config = StreamConfig(http=HTTPConfig(connect_timeout=2, read_timeout=2))
        return [record async for record in stream_urls([url], config=config)]

    import asyncio

    with pytest.raises(PartError, match=why) as raised:
        asyncio.run(main())
    assert raised.value.part
    assert "pw123456" not in str(raised.value) and "s3cr3tvalue" not in str(raised.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://u:pw@[::1/a.jsonl?sig=secret", r"^URL http://\[::1/a\.jsonl is not a valid address: Invalid IPv6 URL$"),
        ("http://127.0.0.1:99999/a.jsonl", r"^URL http://127\.0\.0\.1:99999/a\.jsonl is not a valid address: Port out"),
    ],
)
def test_a_url_source_refuses_an_unparseable_url(url: str, message: str) -> None:
    from streamer.errors import ConfigError
    from streamer.providers.urls import UrlSource

    with pytest.raises(ConfigError, match=message):
        UrlSource([url])


# ------------------------------------------------ sink paths that are no database


@pytest.mark.parametrize("scheme", ["sqlite", "duckdb"])
@pytest.mark.parametrize("name", ["a.jsonl", "a.txt"])
def test_a_database_sink_refuses_a_file_that_is_no_database(
    server: Server, tmp_path: Path, scheme: str, name: str
) -> None:
    """DuckDB would attach a foreign file as an empty in-memory database: the rows would vanish, exit 0."""
    if scheme == "duckdb":
        pytest.importorskip("duckdb")
    content = b'{"keep": "me"}\n'
    (tmp_path / name).write_bytes(content)
    line = one_line(streamer("urls", f"{server.base}/data.jsonl", "--sink", f"{scheme}:///{name}", cwd=tmp_path), 1)
    assert f"{name} exists and is not a" in line
    assert (tmp_path / name).read_bytes() == content
    assert server.requests == []


@pytest.mark.parametrize("scheme", ["sqlite", "duckdb"])
def test_a_database_sink_refuses_a_directory(server: Server, tmp_path: Path, scheme: str) -> None:
    if scheme == "duckdb":
        pytest.importorskip("duckdb")
    (tmp_path / "adir").mkdir()
    line = one_line(streamer("urls", f"{server.base}/data.jsonl", "--sink", f"{scheme}:///adir", cwd=tmp_path), 1)
    assert "adir is a directory" in line


def test_a_database_that_cannot_be_opened_is_named(server: Server, tmp_path: Path) -> None:
    if not Path("/proc/self").exists():
        pytest.skip("needs /proc")
    line = one_line(streamer("urls", f"{server.base}/data.jsonl", "--sink", "sqlite:////proc/x.db", cwd=tmp_path), 1)
    assert "/proc/x.db" in line


@pytest.mark.parametrize("scheme", ["sqlite", "duckdb"])
def test_an_existing_or_empty_database_is_still_accepted(server: Server, tmp_path: Path, scheme: str) -> None:
    if scheme == "duckdb":
        pytest.importorskip("duckdb")
    (tmp_path / "empty.db").write_bytes(b"")
    names = ["new.db"] if scheme == "duckdb" else ["empty.db", "new.db"]  # SQLite takes an empty file as new
    for _ in range(2):  # the second run opens the database the first one made
        for name in names:
            result = streamer("urls", f"{server.base}/data.jsonl", "--sink", f"{scheme}:///{name}", cwd=tmp_path)
            assert result.returncode == 0, result.stderr
    assert (tmp_path / "new.db").stat().st_size > 0
    if scheme == "duckdb":  # DuckDB itself refuses an empty file: one line naming it
        result = streamer("urls", f"{server.base}/data.jsonl", "--sink", "duckdb:///empty.db", cwd=tmp_path)
        assert "cannot open the DuckDB database empty.db" in one_line(result, 1)


# ------------------------------------------------ option values and click's own usage errors


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["--read-timeout", "-1"], "--read-timeout"),
        (["--connect-timeout", "0"], "--connect-timeout"),
        (["--min-rate", "-1"], "--min-rate"),
        (["--min-rate-window", "-1"], "--min-rate-window"),
        (["-o", "."], "is a directory"),
        (["--concurrency", "0"], "concurrency must be at least 1"),
        (["--no-such-option"], "No such option"),
    ],
)
def test_click_usage_errors_are_one_line(server: Server, tmp_path: Path, args: list[str], why: str) -> None:
    line = one_line(streamer("urls", f"{server.base}/data.jsonl", *args, cwd=tmp_path), 2)
    assert line.startswith("streamer: error: ") and why in line
    assert line.endswith("(see streamer urls --help)")
    assert server.requests == []


def test_unknown_command_is_one_line(tmp_path: Path) -> None:
    assert "No such command 'nosuch'" in one_line(streamer("nosuch", cwd=tmp_path), 2)


@pytest.mark.parametrize("args", [["--help"], ["urls", "--help"]])
def test_help_still_works(tmp_path: Path, args: list[str]) -> None:
    result = streamer(*args, cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("Usage: streamer")


def test_bare_streamer_still_shows_the_help(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "streamer.cli.main"], capture_output=True, text=True, cwd=tmp_path,
                            check=False, timeout=60)
    assert "Usage: streamer" in result.stdout + result.stderr and "Commands:" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [([], (1024, 30.0)), (["--min-rate", "5000", "--min-rate-window", "2.5"], (5000, 2.5)),
     (["--min-rate", "0"], (0, 30.0)), (["--min-rate-window", "0"], (0, 30.0))],
)
def test_min_rate_options_reach_the_engine(args: list[str], expected: tuple[int, float]) -> None:
    from streamer.cli.options import build_config
    from streamer.cli.urls import command

    ctx = command.make_context("urls", ["http://127.0.0.1/a.jsonl", *args])
    config = build_config(**ctx.params)
    assert (config.min_rate_bytes, config.min_rate_window) == expected


def test_html_entities_in_an_error_page_title_are_decoded(server: Server, tmp_path: Path) -> None:
    line = one_line(streamer("urls", f"{server.base}/escaped.jsonl", cwd=tmp_path), 1)
    assert "Tom & Jerry's CDN" in line and "&amp;" not in line


def test_an_unexpected_exception_is_one_line_with_its_type_and_its_message_if_it_has_one() -> None:
    from streamer.cli.execute import describe_failure

    assert describe_failure(TimeoutError()) == "internal error: TimeoutError (run with -vv for the traceback)"
    assert describe_failure(ValueError("bad\n  value")) == (
        "internal error: ValueError: bad value (run with -vv for the traceback)"
    )
