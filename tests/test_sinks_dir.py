"""The ``dir`` sink: files per entity type, gzip readable by gzip itself, rotation, roll-back on resume."""

from __future__ import annotations

import gzip
import hashlib
import subprocess
from pathlib import Path

import orjson
import pytest

from streamer.errors import ConfigError
from streamer.sinks.directory import STATE_NAME, DirSink
from tests.support.sinks import dir_records, make_batch


def _batch(start: int, count: int, entity: str = "OrderItem", done: bool = False):  # type: ignore[no-untyped-def]
    # hex digests: incompressible enough that gzip output grows with the records
    return make_batch([{"Id": f"r{i}", "pad": hashlib.sha256(b"%d" % i).hexdigest() * 3} for i in range(start, start + count)],
                      entity_type=entity, first_line=start + 1, done=done)


async def test_rotates_by_size_per_entity_and_gzip_files_are_valid(tmp_path: Path) -> None:
    sink = DirSink(tmp_path, gzip=True, rotate_bytes=2000)
    await sink.open()
    for start in range(0, 400, 50):
        await sink.write(_batch(start, 50))
    await sink.write(make_batch([{"Id": "p1"}], entity_type="Payment", index=1, done=True))
    await sink.close(None)

    files = sorted(p.name for p in tmp_path.glob("order_item-*.jsonl.gz"))
    assert len(files) >= 3 and files[0] == "order_item-00000.jsonl.gz"
    assert [p.name for p in tmp_path.glob("payment-*")] == ["payment-00000.jsonl.gz"]
    for name in files:  # a rotated file holds whole batches, so each stays under the limit unless one batch is larger
        assert (tmp_path / name).stat().st_size <= 2000 or len(gzip.decompress((tmp_path / name).read_bytes()).splitlines()) == 50
    # the system gzip reads the multi-member files
    text = subprocess.run(["gzip", "-dc", *[str(tmp_path / n) for n in files]], capture_output=True, check=True).stdout
    assert [orjson.loads(line)["Id"] for line in text.splitlines()] == [f"r{i}" for i in range(400)]


async def test_reopening_rolls_back_what_was_written_after_the_last_state(tmp_path: Path) -> None:
    sink = DirSink(tmp_path, rotate_bytes=4000)
    await sink.open()
    for start in range(0, 100, 20):
        await sink.write(_batch(start, 20))
    await sink.close(None)
    committed = dir_records(tmp_path)["order_item"]
    state = (tmp_path / STATE_NAME).read_bytes()

    # a crash after appending, before the state was replaced: bytes past the recorded length,
    # a torn line, and a rotated file the state never named
    current = max(tmp_path.glob("order_item-*.jsonl"))
    with open(current, "ab") as f:
        f.write(b'{"Id":"ghost"}\n{"Id":"to')
    seq = int(current.name.split("-")[1].split(".")[0])
    (tmp_path / f"order_item-{seq + 1:05d}.jsonl").write_bytes(b'{"Id":"ghost2"}\n')
    (tmp_path / "payment-00000.jsonl").write_bytes(b'{"Id":"ghost3"}\n')
    (tmp_path / "notes.txt").write_text("not ours")

    sink = DirSink(tmp_path, rotate_bytes=4000)
    checkpoints = await sink.load_checkpoints()
    assert checkpoints["test/exp/0"].line == 100
    await sink.open()
    await sink.write(_batch(100, 20, done=True))
    await sink.close(None)

    records = dir_records(tmp_path)
    assert list(records) == ["order_item"]
    assert [r["Id"] for r in records["order_item"]] == [r["Id"] for r in committed] + [f"r{i}" for i in range(100, 120)]
    assert (tmp_path / "notes.txt").read_text() == "not ours"
    assert (tmp_path / STATE_NAME).read_bytes() != state


async def test_refuses_to_resume_with_another_gzip_setting(tmp_path: Path) -> None:
    sink = DirSink(tmp_path, gzip=True)
    await sink.open()
    await sink.write(_batch(0, 5))
    await sink.close(None)
    with pytest.raises(ConfigError, match="same gzip setting"):
        await DirSink(tmp_path, gzip=False).open()
