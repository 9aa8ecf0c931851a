"""benchmarks/typed_tables.py works end to end at a tiny size (no timing assertions): every
streamer sink and limit runs on the same export with the same record count, and the targets are
marked from the measured figures."""

from __future__ import annotations

import pytest

from benchmarks.typed_tables import markdown, run, targets


@pytest.mark.timeout(300)
def test_tiny_run_measures_every_contender_on_the_same_export() -> None:
    rows, info = run(0.5, 2, with_dlt=False)  # the asserts inside run() check each contender's record count
    names = {r["contender"] for r in rows}
    assert {"streamer → DuckDB (typed)", "streamer → SQLite (typed)", "streamer → Parquet",
            "DuckDB read_json (files on disk)"} <= names
    assert all(r["seconds"] > 0 and r["peak_rss_mb"] > 0 for r in rows)
    marked = targets(rows)
    assert any(t.startswith("typed DuckDB ≥ 0.5×") for t, _, _ in marked)
    assert sum(1 for t, _, _ in marked if "RSS" in t) == sum(1 for r in rows if r["kind"] == "streamer")
    text = markdown(rows, info)
    assert f"{info['records']:,} Mews-shaped OrderItems" in text and "| met |" in text


def test_targets_are_marked_from_the_figures() -> None:
    rows = [
        {"contender": "streamer → DuckDB (typed)", "kind": "streamer", "seconds": 2.0, "peak_rss_mb": 100},
        {"contender": "dlt x", "kind": "dlt", "seconds": 50.0, "peak_rss_mb": 900},
        {"contender": "dlt y", "kind": "dlt", "seconds": 30.0, "peak_rss_mb": 900},
        {"contender": "DuckDB read_json (files on disk)", "kind": "limit", "seconds": 0.9, "peak_rss_mb": 90},
    ]
    marked = {t: (v, ok) for t, v, ok in targets(rows)}
    assert marked["typed DuckDB ≥ 20× dlt's faster configuration"] == ("15.0×", False)  # 30 s, the faster dlt
    assert marked["typed DuckDB ≥ 0.5× DuckDB read_json"] == ("0.45×", False)
    assert marked["streamer → DuckDB (typed) < 150 MB RSS"] == ("100 MB", True)
    rows[0]["seconds"] = 1.0
    assert {t: ok for t, _, ok in targets(rows)}["typed DuckDB ≥ 0.5× DuckDB read_json"] is True


def test_before_rows_are_paired_with_this_checkouts_and_left_out_of_the_targets() -> None:
    from benchmarks.typed_tables import before_after

    rows = [
        {"contender": "streamer → Parquet", "kind": "streamer", "seconds": 2.0, "records_per_second": 10, "peak_rss_mb": 120},
        {"contender": "streamer → Parquet, before", "kind": "before", "seconds": 3.0, "records_per_second": 7,
         "peak_rss_mb": 180},
    ]
    assert before_after(rows)[-1] == "| streamer → Parquet | 3.0 → 2.0 | 1.50× | 180 → 120 |"
    assert [t for t, _, _ in targets(rows)] == ["streamer → Parquet < 150 MB RSS"]  # the before row is no target
    assert before_after(rows[:1]) == []
