"""The README's simulator examples, run as written against a simulator this test starts, so they can't rot.

Convention: a fenced ``sh`` or ``python`` block right after an
``<!-- example: NAME [lines=N] -->`` comment is an example.  The ``simulator``
example's command starts the simulator (here with ``--port 0``); in every other
example its documented address ``http://127.0.0.1:8080`` becomes the real one,
``streamer``/``python`` are this checkout's, and the block runs in a fresh
directory with ``bash -euo pipefail`` (or Python).  ``lines=N``: the block
prints exactly N lines on stdout.  Also checked: ``streamer simulate``'s ready
commands and ``streamer demo --vendor …``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.simulator_process import simulator_child

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCUMENTED_BASE = "http://127.0.0.1:8080"
_EXAMPLE = re.compile(r"<!-- example: (?P<name>[\w-]+)(?P<opts>[^>]*)-->\n```(?P<lang>sh|python)\n(?P<code>.*?)\n```", re.S)


@dataclass(frozen=True)
class Example:
    name: str
    lang: str
    code: str
    lines: int | None


def readme_examples() -> dict[str, Example]:
    examples: dict[str, Example] = {}
    for match in _EXAMPLE.finditer(README.read_text()):
        lines = re.search(r"lines=(\d+)", match["opts"])
        examples[match["name"]] = Example(match["name"], match["lang"], match["code"], int(lines[1]) if lines else None)
    return examples


EXAMPLES = readme_examples()
RUNNABLE = [name for name in EXAMPLES if name != "simulator"]
needs_tools = pytest.mark.skipif(
    not (shutil.which("curl") and shutil.which("jq")), reason="curl and jq (installed by .ci/setup.d/30-curl-jq.sh)"
)


def test_readme_is_a_front_page_with_examples_for_every_way_and_vendor() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 250
    assert {"simulator", "pipe", "mews", "logisense", "rebilly", "check", "library", "worker"} <= set(EXAMPLES)
    for link in re.findall(r"\]\((docs/[\w-]+\.md)", text):
        # the docs others write may land later; ours must exist
        if link not in {"docs/architecture.md", "docs/vendor-facts.md", "docs/server-answers.md",
                        "docs/safety.md", "docs/testing.md", "docs/dask.md"}:
            assert (ROOT / link).is_file(), link


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """PATH with ``streamer`` and ``python`` of this checkout first."""
    bin_dir = tmp_path_factory.mktemp("bin")
    for name, command in (("streamer", f'exec "{sys.executable}" -m streamer.cli.main "$@"'),
                          ("python", f'exec "{sys.executable}" "$@"')):
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\n{command}\n")
        script.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


@pytest.fixture(scope="module")
def simulator(tools: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(base URL, file of its stderr) of the README's ``streamer simulate`` command."""
    command = EXAMPLES["simulator"].code.strip().split()
    assert command[0].endswith("streamer") and command[1] == "simulate", command
    args = [sys.executable, "-m", "streamer.cli.main", *command[1:]]
    args[args.index("--port") + 1] = "0"
    err_path = tmp_path_factory.mktemp("sim") / "stderr"
    with open(err_path, "w") as err, simulator_child(args, stderr=err, env=tools) as base:
        yield base, err_path


def run_example(example: Example, base: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    code = example.code.replace(DOCUMENTED_BASE, base).replace("examples/", f"{ROOT}/examples/")
    argv = ["bash", "-euo", "pipefail", "-c", code] if example.lang == "sh" else [sys.executable, "-c", code]
    return subprocess.run(argv, capture_output=True, text=True, timeout=180, env=env, cwd=cwd)


@needs_tools
@pytest.mark.parametrize("name", RUNNABLE)
def test_readme_example_runs(name: str, simulator: tuple[str, Path], tools: dict[str, str], tmp_path: Path) -> None:
    example = EXAMPLES[name]
    base, _ = simulator
    result = run_example(example, base, tools, tmp_path)
    assert result.returncode == 0, f"README example {name!r} failed:\n{result.stderr}"
    assert "Traceback" not in result.stderr
    if example.lines is not None:
        assert len(result.stdout.splitlines()) == example.lines, result.stderr
    if name == "library":
        out = result.stdout.splitlines()
        assert len(eval(out[0])) == 3  # three ids, from the async for
        assert out[1].startswith("10000 records from 4 parts")
        again = run_example(example, base, tools, tmp_path)  # rerun into the same database: resumes
        assert again.returncode == 0 and again.stdout.splitlines()[1].startswith("0 records from 4 parts"), again.stderr


@needs_tools
def test_simulate_prints_a_ready_command_per_vendor(simulator: tuple[str, Path], tools: dict[str, str],
                                                  tmp_path: Path) -> None:
    base, err_path = simulator
    deadline = time.monotonic() + 10
    while "rebilly:" not in err_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    stderr = err_path.read_text().splitlines()
    ready = {}
    for line in stderr:
        match = re.match(r"\s+(urls|mews|logisense|rebilly):\s+(streamer .*|\w+=.*)$", line)
        if match:
            ready[match[1]] = match[2]
    assert set(ready) == {"urls", "mews", "logisense", "rebilly"}, stderr
    expected = {"urls": 10000, "mews": 1000, "logisense": 5000, "rebilly": 1000}
    for vendor, command in ready.items():
        assert base in command
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", command], capture_output=True, text=True,
                                timeout=180, env=tools, cwd=tmp_path)
        assert result.returncode == 0, f"{vendor}: {result.stderr}"
        assert len(result.stdout.splitlines()) == expected[vendor], (vendor, result.stderr)


@pytest.mark.parametrize("vendor", ["mews", "logisense", "rebilly"])
def test_demo_vendor_delivers_what_the_simulator_generated(vendor: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "streamer.cli.main", "demo", "--vendor", vendor, "--records", "2500", "--parts", "2",
         "--url-ttl", "5"],
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr
    generated = int(re.search(r"the simulator generated (\d+) records", result.stderr)[1])  # type: ignore[index]
    lines = result.stdout.splitlines()
    assert generated > 0 and len(lines) == generated
    key = {"mews": '"Id"', "logisense": '"rowId"', "rebilly": '"id"'}[vendor]
    ids = [re.search(key + r':"([^"]+)"', line)[1] for line in lines]  # type: ignore[index]
    assert len(set(ids)) == generated, "every record exactly once"
