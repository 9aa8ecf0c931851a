"""The ZIP-of-parts decoder: sequential member reading, integrity checks, cold resume."""

from __future__ import annotations

import io
import struct
import zipfile

import orjson
import pytest

from streamer.decoding.badlines import BadLines
from streamer.decoding.base import make_decoder
from streamer.errors import DecodeError, RowCountMismatchError
from streamer.records import PartInfo

PART = PartInfo(source="rebilly", index=0, entity_type="transactions", export_id="e9", name="export.zip")


class Unseekable(io.RawIOBase):
    """Makes zipfile write data descriptors (flag bit 3), as streaming writers do."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[no-untyped-def]
        self.data += b
        return len(b)


def csv_member(first: int, count: int) -> bytes:
    rows = "".join(f"tx-{i},{i * 1.5},\"note, with comma\"\n" for i in range(first, first + count))
    return ("id,amount,note\n" + rows).encode()


def archive(members: list[tuple[str, bytes]], *, streamed: bool, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    sink = Unseekable() if streamed else io.BytesIO()
    with zipfile.ZipFile(sink, "w", method) as z:
        if not streamed:
            z.writestr("parts/", b"")  # a directory entry: no records
        for name, data in members:
            if streamed:
                with z.open(name, "w") as w:
                    w.write(data)
            else:
                z.writestr(name, data)
    return bytes(sink.data) if streamed else sink.getvalue()


MEMBERS = [(f"parts/transactions-{k}.csv", csv_member(k * 300, 300 - 50 * k)) for k in range(3)]
WANT = [f"tx-{i}" for k in range(3) for i in range(k * 300, k * 300 + 300 - 50 * k)]


def decoder(**kwargs):
    options = {"member_format": "csv", "plain": True, **kwargs.pop("options", {})}
    return make_decoder("zip", PART, bad_lines=BadLines(), max_line_bytes=1 << 20, options=options, **kwargs)


def run(data: bytes, step: int, **kwargs):
    d = decoder(**kwargs)
    out: list = []
    checkpoints = []
    for i in range(0, len(data), step):
        d.feed(data[i : i + step], out)
        checkpoints.append((len(out), d.offset, d.line, d.state()))
    d.finish(out)
    return out, checkpoints


@pytest.mark.parametrize(
    "streamed,method", [(False, zipfile.ZIP_DEFLATED), (False, zipfile.ZIP_STORED), (True, zipfile.ZIP_DEFLATED)]
)
@pytest.mark.parametrize("step", [1, 37, 4096, 1 << 30])
def test_members_stream_in_order_whatever_the_chunking(streamed, method, step):
    data = archive(MEMBERS, streamed=streamed, method=method)
    out, _ = run(data, step)
    assert [r.data["id"] for r in out] == WANT
    assert out[0].data == {"id": "tx-0", "amount": "0.0", "note": "note, with comma"}
    assert out[0].part.name == "export.zip [parts/transactions-0.csv]"
    assert {r.part.key for r in out} == {PART.key}
    assert out[300].line == 2  # positions are within the member


@pytest.mark.parametrize("streamed", [False, True])
def test_cold_resume_from_any_checkpoint_repeats_and_loses_nothing(streamed):
    data = archive(MEMBERS, streamed=streamed)
    _, checkpoints = run(data, 211)
    for delivered, offset, line, state in checkpoints:
        rest, _ = run(data[offset:], 500, offset=offset, line=line, state=state)
        assert [r.data["id"] for r in rest] == WANT[delivered:]


def test_a_bare_file_passes_through_with_its_own_options():
    plain = csv_member(0, 40)
    out, _ = run(plain, 7, options={"plain_options": {"expected_rows": 40}})
    assert [r.data["id"] for r in out] == [f"tx-{i}" for i in range(40)]
    with pytest.raises(RowCountMismatchError):
        run(plain, 7, options={"plain_options": {"expected_rows": 41}})
    with pytest.raises(DecodeError, match="expected a ZIP archive"):
        run(plain, 7, options={"plain": False})


@pytest.mark.parametrize("body", [b"[]", b"[ ]"])
def test_a_bare_body_under_four_bytes_is_plain_not_a_truncated_zip(body: bytes) -> None:
    """An empty JSON export is ``[]``: too short to sniff before the end, still a plain file."""
    d = make_decoder("zip", PART, bad_lines=BadLines(), max_line_bytes=1 << 20,
                     options={"member_format": "json", "plain": True})
    out: list = []
    d.feed(body, out)
    d.finish(out)
    assert out == []  # and no "ZIP archive ends early"
    with pytest.raises(DecodeError, match="expected a ZIP archive"):
        strict = make_decoder("zip", PART, bad_lines=BadLines(), max_line_bytes=1 << 20,
                              options={"member_format": "json", "plain": False})
        strict.feed(body, out)
        strict.finish(out)


def test_json_members():
    members = [(f"p{k}.json", orjson.dumps([{"id": f"{k}-{i}"} for i in range(5)])) for k in range(2)]
    d = make_decoder("zip", PART, bad_lines=BadLines(), max_line_bytes=1 << 20, options={"member_format": "json"})
    out: list = []
    d.feed(archive(members, streamed=True), out)
    d.finish(out)
    assert [r.data["id"] for r in out] == [f"{k}-{i}" for k in range(2) for i in range(5)]


def test_truncated_archive_is_an_error():
    data = archive(MEMBERS, streamed=True)
    with pytest.raises(DecodeError, match="the ZIP archive ends early .*inside member 'parts/transactions-1.csv'"):
        run(data[: len(data) // 2], 100)


def test_corrupt_member_fails_its_check():
    stored = bytearray(archive(MEMBERS, streamed=False, method=zipfile.ZIP_STORED))
    at = stored.index(b"tx-5,")
    stored[at : at + 4] = b"tx-X"
    with pytest.raises(DecodeError, match="fails its CRC-32 check"):
        run(bytes(stored), 100)
    deflated = bytearray(archive(MEMBERS, streamed=True))
    deflated[200] ^= 0xFF
    with pytest.raises(DecodeError, match="transactions-0.csv"):
        run(bytes(deflated), 100)


def test_what_cannot_be_read_sequentially_is_refused_clearly():
    data = bytearray(archive(MEMBERS[:1], streamed=False, method=zipfile.ZIP_STORED))
    first = data.index(b"PK\x03\x04", 1)  # the csv member (after the directory entry)
    encrypted = bytearray(data)
    struct.pack_into("<H", encrypted, first + 6, 0x0001)
    with pytest.raises(DecodeError, match="is encrypted"):
        run(bytes(encrypted), 1000)
    bzip = bytearray(data)
    struct.pack_into("<H", bzip, first + 8, 12)
    with pytest.raises(DecodeError, match="compression method 12"):
        run(bytes(bzip), 1000)
    unsized = bytearray(data)
    struct.pack_into("<H", unsized, first + 6, 0x0008)
    struct.pack_into("<II", unsized, first + 18, 0, 0)
    with pytest.raises(DecodeError, match="cannot be read sequentially"):
        run(bytes(unsized), 1000)
