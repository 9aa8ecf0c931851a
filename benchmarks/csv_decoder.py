"""Streaming CSV decoder against the stdlib (``python -m benchmarks.csv_decoder [ROWS]``).

A LogiSense-shaped CSV (the simulator's generator: ten-ish columns, every 5th
row with a quoted newline and doubled quotes, every 7th with a quoted comma)
is decoded from memory in 256 KiB chunks by :class:`streamer.decoding.csv.CsvDecoder`,
batches of records dropped after each chunk as a fast sink would; the
reference is ``csv.DictReader`` over the same text already decoded in memory
(no streaming, no offsets).  Best of three runs each; prints one JSON object.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time

from streamer.decoding.badlines import BadLines
from streamer.decoding.base import make_decoder
from streamer.records import PartInfo, Record
from streamer.simulator.logisense import csv_export

CHUNK = 256 * 1024


def streaming(data: bytes) -> tuple[int, float]:
    decoder = make_decoder("csv", PartInfo("bench", 0), bad_lines=BadLines(), max_line_bytes=1 << 20)
    started, rows = time.perf_counter(), 0
    for i in range(0, len(data), CHUNK):
        out: list[Record] = []
        decoder.feed(data[i : i + CHUNK], out)
        rows += len(out)
    out = []
    decoder.finish(out)
    return rows + len(out), time.perf_counter() - started


def stdlib(data: bytes) -> tuple[int, float]:
    started = time.perf_counter()
    rows = sum(1 for _ in csv.DictReader(io.StringIO(data.decode(), newline="")))
    return rows, time.perf_counter() - started


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    data = csv_export(1, rows, crlf=True)
    report: dict[str, object] = {"rows": rows, "bytes": len(data)}
    for name, run in (("streamer_csv", streaming), ("stdlib_dictreader_in_memory", stdlib)):
        best = min((run(data) for _ in range(3)), key=lambda r: r[1])
        assert best[0] == rows, (name, best[0])
        report[name] = {"rows_per_s": round(rows / best[1]), "mb_per_s": round(len(data) / best[1] / 1e6, 1)}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
