"""Kill the CLI mid-run (SIGTERM, SIGKILL) and rerun it with the same --state.

``streamer urls ... --state F -o out.jsonl`` runs as a real subprocess
against an in-process simulator that is slowed down so the kill lands
mid-part; after the rerun the output holds every record exactly once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import sys
import time
from pathlib import Path

import orjson
import pytest

from streamer.simulator import FaultPlan, Simulator
from tests.support.faults import assert_at_least_once, assert_exactly_once, expected_ids, ids_in_file
from tests.support.processes import reaped

pytestmark = [pytest.mark.faults, pytest.mark.timeout(90)]


async def _start_cli(args: list[str], stdout: Path | None = None) -> asyncio.subprocess.Process:
    out = open(stdout, "ab") if stdout else asyncio.subprocess.DEVNULL  # noqa: SIM115
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "streamer.cli.main", "-q", *args,
            stdout=out, stderr=asyncio.subprocess.PIPE,
        )
    finally:
        if stdout:
            out.close()  # type: ignore[union-attr]


async def _wait_for_output(path: Path, at_least: int, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size >= at_least:
            return
        if process.returncode is not None:
            raise AssertionError(f"the CLI exited early with {process.returncode}: {await process.stderr.read()}")
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} did not reach {at_least} bytes")


def _cli_args(sim: Simulator, exports, state: Path, out: Path | None) -> list[str]:
    urls = [url for export in exports for url in sim.file_urls(export)]
    args = ["urls", *urls, "--state", str(state), "--batch-size", "50", "--concurrency", "3",
            "--retries", "20"]
    return args + (["-o", str(out)] if out else [])


async def _finish(process: asyncio.subprocess.Process) -> tuple[int, str]:
    _, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, err.decode()


@pytest.mark.parametrize("kill_signal", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
async def test_killed_cli_resumes_with_every_record_exactly_once(tmp_path, kill_signal):
    out, state = tmp_path / "out.jsonl", tmp_path / "state.json"
    faults = FaultPlan(seed=31)
    async with Simulator(seed=31, faults=faults) as sim:
        exports = [sim.add_export(e, records=2400, parts=2) for e in ("OrderItem", "Payment")]
        total = sum(e.file_size(i) for e in exports for i in range(2))
        faults.bytes_per_second = total / 4 / 2.5  # ~2.5 s per part, 3 at a time
        for export in exports:  # and a dropped connection in every part, for good measure
            for i in range(2):
                faults.drop_at[f"{export.id}/{i}"] = [export.file_size(i) // 2 + 17]

        # Kill twice at different points, then let the third run finish.
        unacknowledged_bytes = []
        for fraction in (0.2, 0.55):
            process = await _start_cli(_cli_args(sim, exports, state, out))
            async with reaped(process):  # killed on the way out if an assertion fails first
                await _wait_for_output(out, int(total * fraction * 0.9), process)
                process.send_signal(kill_signal)
                code, err = await _finish(process)
            saved = orjson.loads(state.read_bytes())
            assert any(p["offset"] > 0 for p in saved["parts"].values()), "nothing was checkpointed"
            unacknowledged_bytes.append(out.stat().st_size - saved["sink"]["length"])
            if kill_signal == signal.SIGKILL:
                assert code == -signal.SIGKILL
            else:
                assert code == 143, err
                assert "terminated by SIGTERM" in err
                assert orjson.loads(state.read_bytes())["run"]["status"] == "interrupted"
            partial = ids_in_file(out) if kill_signal == signal.SIGTERM else None
            if partial is not None:  # a clean stop leaves a clean file
                assert len(set(partial)) == len(partial)

        faults.bytes_per_second = None
        process = await _start_cli(_cli_args(sim, exports, state, out))
        code, err = await _finish(process)
    assert code == 0, err
    assert all(n >= 0 for n in unacknowledged_bytes)
    if kill_signal == signal.SIGKILL:
        # the kill left output past the last save, which the resume rolled back
        assert any(n > 0 for n in unacknowledged_bytes), unacknowledged_bytes
    assert_exactly_once(ids_in_file(out), expected_ids(exports), f"after {kill_signal.name} and resume")
    doc = orjson.loads(state.read_bytes())
    assert doc["run"]["status"] == "completed"
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o600
    assert "sig=" not in state.read_text()


async def test_killed_cli_writing_to_stdout_is_at_least_once(tmp_path):
    """Without -o the CLI cannot roll stdout back: a rerun may repeat the batches
    written after the last save, but never loses one."""
    out, state = tmp_path / "stdout.jsonl", tmp_path / "state.json"
    faults = FaultPlan(seed=32)
    async with Simulator(seed=32, faults=faults) as sim:
        exports = [sim.add_export("OrderItem", records=3000, parts=3)]
        total = sum(exports[0].file_size(i) for i in range(3))
        faults.bytes_per_second = total / 3 / 2.0
        process = await _start_cli(_cli_args(sim, exports, state, None), stdout=out)
        async with reaped(process):  # killed on the way out
            await _wait_for_output(out, total // 3, process)
        faults.bytes_per_second = None
        # the killed run may have torn its last line: cut it, as a consumer would skip it
        data = out.read_bytes()
        out.write_bytes(data[: data.rfind(b"\n") + 1])
        process = await _start_cli(_cli_args(sim, exports, state, None), stdout=out)
        code, err = await _finish(process)
    assert code == 0, err
    assert_at_least_once(ids_in_file(out), expected_ids(exports), "stdout after SIGKILL")
