"""The command line: data on stdout, logs on stderr, exit codes, quiet on | head."""

import os
import subprocess
import sys

import orjson

from tests.support.simulator_process import simulator_process

STREAMER = [sys.executable, "-m", "streamer.cli.main"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*STREAMER, *args], capture_output=True, timeout=120, env=ENV, **kwargs)


def test_demo_prints_every_generated_record_once() -> None:
    result = run("demo", "--records", "4000", "--parts", "2")
    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.splitlines()
    ids = [orjson.loads(line)["Id"] for line in lines]
    assert len(ids) == len(set(ids))
    stderr = result.stderr.decode()
    generated = int(stderr.split("generated ", 1)[1].split(" records", 1)[0])
    assert len(lines) == generated


def test_demo_piped_into_wc_counts_the_generated_records() -> None:
    pipeline = f"{sys.executable} -m streamer.cli.main demo --records 3000 | wc -l"
    result = subprocess.run(pipeline, shell=True, capture_output=True, text=True, timeout=120, env=ENV)
    generated = int(result.stderr.split("generated ", 1)[1].split(" records", 1)[0])
    assert int(result.stdout.strip()) == generated


def test_urls_streams_compact_json_lines() -> None:
    with simulator_process("--records", "3000", "--parts", "3", "--gzip") as (_, index):
        export = index["Exports"][0]
        result = run("urls", *[f["Url"] for f in export["Files"]], "--ordered", "--with-metadata")
    assert result.returncode == 0, result.stderr.decode()
    rows = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == export["Records"]
    assert [r["_streamer"]["part"] for r in rows] == sorted(r["_streamer"]["part"] for r in rows)
    assert result.stdout.splitlines()[0] == orjson.dumps(rows[0])  # compact, orjson-normalised
    assert b"records from 3 parts" in result.stderr


def test_head_closes_the_pipe_quietly() -> None:
    pipeline = f"{sys.executable} -m streamer.cli.main demo --records 20000 | head -n 3"
    result = subprocess.run(
        f"set -o pipefail; {pipeline}; echo status=$?",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV,
    )
    assert len(result.stdout.splitlines()) == 4
    assert result.stdout.splitlines()[-1] == "status=141"
    assert "Traceback" not in result.stderr
    assert "BrokenPipe" not in result.stderr


def test_failure_exits_1_with_one_clear_line() -> None:
    with simulator_process("--records", "10", "--parts", "1") as (base_url, _):
        result = run("urls", f"{base_url}/files/nope/part-0000.jsonl?expires=1&sig=secret", "--retries", "1")
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert "streamer: error:" in stderr
    assert "Traceback" not in stderr
    assert "sig=secret" not in stderr  # signed URL queries are never shown


def test_bad_lines_skip_writes_dead_letters(tmp_path) -> None:
    bad = tmp_path / "data.jsonl"
    bad.write_bytes(b'{"Id":"a"}\nnot json\n{"Id":"b"}\n')
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
    import functools
    import threading

    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/data.jsonl"
        dead = tmp_path / "dead.jsonl"
        failed = run("urls", url)
        skipped = run("urls", url, "--bad-lines", "skip", "--dead-letter", str(dead))
    finally:
        server.shutdown()
        server.server_close()
    assert failed.returncode == 1
    assert b"line 2, byte offset 11" in failed.stderr
    assert skipped.returncode == 0
    assert [orjson.loads(x)["Id"] for x in skipped.stdout.splitlines()] == ["a", "b"]
    assert b", 1 bad line skipped" in skipped.stderr  # singular: "1 bad lines" was the bug (issue 19)
    assert orjson.loads(dead.read_bytes())["line"] == 2


def test_help_lists_the_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    for name in (b"urls", b"simulate", b"demo"):
        assert name in result.stdout
