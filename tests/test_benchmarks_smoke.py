"""The benchmark runner works end to end at a tiny size (no timing assertions).

It starts a real simulator process and every contender in its own process;
the check is that each contender ran, streamed the whole export (the same
record count as every other), and that the results file says so.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytest.importorskip("requests")  # the Airbyte-style contender (in the `test` extra)


@pytest.mark.timeout(120)
def test_quick_run_produces_results_for_every_contender(tmp_path: Path) -> None:
    out = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--size-mb", "2", "--no-update-readme", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert (out / "results.md").read_text().startswith("Run **")

    from benchmarks.run import ALTERNATIVES_GZIP, ALTERNATIVES_PLAIN, LIMITS, STREAMER, TUNING

    plain = results["plain"]["contenders"]
    expected_plain = {*LIMITS, *STREAMER, *ALTERNATIVES_PLAIN, *TUNING} - {"curl-raw", "streamer-lib-uvloop"}
    assert expected_plain <= set(plain)
    gzip = results["gzip"]["contenders"]
    assert {*LIMITS, *STREAMER, *ALTERNATIVES_GZIP} - {"curl-raw"} <= set(gzip)

    exported = results["plain"]["records"]
    assert exported > 1000
    assert results["gzip"]["records"] == exported
    for section in (plain, gzip):
        for name, contender in section.items():
            if name in ("curl-raw", "aiohttp-raw"):
                assert contender["wire_mb"] > 0, name  # raw download limits count bytes, not records
                continue
            assert contender["records_all_runs"] == [exported] * contender["runs"], name
            assert contender["wall"] > 0 and contender["peak_rss_mb"] > 0, name

    # Raw and decoded byte counts agree between the limits and streamer.
    assert plain["aiohttp-raw"]["wire_mb"] == pytest.approx(results["plain"]["wire_mb"])
    assert plain["streamer-lib"]["wire_mb"] == pytest.approx(results["plain"]["wire_mb"])
    assert gzip["streamer-lib"]["wire_mb"] == pytest.approx(results["gzip"]["wire_mb"])

    scaling = results["scaling"]
    assert [p["contenders"]["streamer-lib"]["records"] for p in scaling["by_size"]][-1] == exported
    assert all(p["records"] == exported for p in scaling["by_concurrency"] + scaling["by_parts"])
    micro = results["micro"]
    assert micro["records"] > 0 and micro["blocks_pool_2_workers"] > 0
