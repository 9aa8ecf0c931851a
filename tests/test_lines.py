"""Line framing: chunk boundaries anywhere, BOM, CRLF, blank lines, limits."""

import pytest

from streamer.decoding.lines import BOM, LineSplitter
from streamer.errors import LineTooLongError


def frame(data: bytes, cuts: list[int], max_line_bytes: int = 1 << 20) -> tuple[list[bytes], LineSplitter]:
    splitter = LineSplitter(part="p", max_line_bytes=max_line_bytes)
    lines, last = [], 0
    for cut in sorted(cuts) + [len(data)]:
        lines += splitter.feed(data[last:cut])
        last = cut
    lines += splitter.finish()
    return lines, splitter


def test_lines_split_across_every_boundary() -> None:
    data = b'{"a":1}\n{"b":2}\r\n\n{"c":3}'
    for cut in range(len(data) + 1):
        lines, splitter = frame(data, [cut])
        assert lines == [b'{"a":1}', b'{"b":2}\r', b"", b'{"c":3}']
        assert splitter.offset == len(data)
        assert splitter.line == 4


def test_bom_is_stripped_even_when_split() -> None:
    data = BOM + b'{"a":1}\n'
    for cut in range(len(data) + 1):
        lines, splitter = frame(data, [cut, cut])
        assert lines == [b'{"a":1}']
        assert splitter.offset == len(data)


def test_bom_only_at_start_of_file() -> None:
    splitter = LineSplitter(part="p", max_line_bytes=1024, offset=100, line=3)
    assert splitter.feed(BOM + b"x\n") == [BOM + b"x"]
    assert (splitter.offset, splitter.line) == (100 + len(BOM) + 2, 4)


def test_tiny_file_that_is_a_bom_prefix() -> None:
    lines, splitter = frame(b"\xef\xbb", [1])
    assert lines == []


def test_offsets_point_at_line_starts() -> None:
    splitter = LineSplitter(part="p", max_line_bytes=1024)
    assert splitter.feed(b"aa\nbbb") == [b"aa"]
    assert splitter.offset == 3
    assert splitter.buffered == 3
    assert splitter.feed(b"b\ncc\n") == [b"bbbb", b"cc"]
    assert (splitter.offset, splitter.line) == (11, 3)


def test_long_line_across_chunks_is_refused_with_location() -> None:
    splitter = LineSplitter(part="OrderItem part 2", max_line_bytes=1024)
    assert splitter.feed(b"ok\n") == [b"ok"]
    with pytest.raises(LineTooLongError) as info:
        for _ in range(10):
            splitter.feed(b"x" * 200)
    error = info.value
    assert (error.line, error.offset) == (2, 3)
    assert "OrderItem part 2, line 2, byte offset 3" in str(error)


def test_long_line_inside_one_chunk_is_refused() -> None:
    splitter = LineSplitter(part="p", max_line_bytes=1024)
    with pytest.raises(LineTooLongError) as info:
        splitter.feed(b"a\n" + b"y" * 2000 + b"\nb\n")
    assert (info.value.line, info.value.offset) == (2, 2)


def test_many_small_pieces_of_one_line_join_once() -> None:
    splitter = LineSplitter(part="p", max_line_bytes=1 << 20)
    for _ in range(1000):
        assert splitter.feed(b"z" * 100) == []
    assert splitter.feed(b"\n") == [b"z" * 100_000]
