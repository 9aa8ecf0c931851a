"""Fuzz: LineSplitter + JsonlDecoder (+ the gzip layer) fed at random chunk
boundaries decode exactly what a whole-file parse does — and a decoder
restarted at any checkpoint delivers exactly the records after it.  And the
decoder's syntax check (which builds no objects) accepts exactly the lines
orjson parses into an object, on randomly mutated lines.

Files mix a UTF-8 BOM, CRLF and LF line ends, blank and whitespace-only
lines, non-ASCII text, and a missing final newline.  The gzip cases shrink
the gunzip piece cap to a few bytes so the ``max_length`` path is exercised
on every call (it hid a multi-member bug, see test_engine_regressions.py).
"""

from __future__ import annotations

import gzip

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import streamer.decoding.gzip as gzip_layer
from streamer.decoding.badlines import BadLines
from streamer.decoding.base import DecoderStart
from streamer.decoding.gzip import GunzipStream
from streamer.decoding.jsonl import JsonlDecoder
from streamer.decoding.lines import BOM, LineSplitter
from streamer.records import PartInfo, Record

pytestmark = pytest.mark.faults

PART = PartInfo(source="fuzz", index=0, name="fuzz.jsonl")
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
records = st.lists(st.dictionaries(st.text(max_size=6), values, max_size=4), max_size=25)
blank = st.sampled_from([b"", b" ", b"\r", b"\t \r"])


@st.composite
def jsonl_files(draw):  # type: ignore[no-untyped-def]
    """(file bytes, the records it holds) with random framing."""
    objs = draw(records)
    lines: list[bytes] = []
    for obj in objs:
        lines.extend(draw(st.lists(blank, max_size=2)))
        lines.append(orjson.dumps(obj))
    lines.extend(draw(st.lists(blank, max_size=2)))
    eols = draw(st.lists(st.sampled_from([b"\n", b"\r\n"]), min_size=len(lines), max_size=len(lines)))
    body = b"".join(line + eol for line, eol in zip(lines, eols))
    if body and draw(st.booleans()):  # missing final newline
        body = body.rstrip(b"\n")
    if draw(st.booleans()):
        body = BOM + body
    return body, objs


def cut(data: bytes, points: list[int]) -> list[bytes]:
    bounds = sorted({p % (len(data) + 1) for p in points} | {0, len(data)})
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def whole_file_parse(body: bytes) -> list[object]:
    if body.startswith(BOM):
        body = body[len(BOM):]
    return [orjson.loads(line) for line in body.split(b"\n") if line.strip()]


def decode(chunks: list[bytes], offset: int = 0, line: int = 0) -> tuple[list[Record], JsonlDecoder]:
    decoder = JsonlDecoder(DecoderStart(PART, BadLines(), max_line_bytes=1 << 20, offset=offset, line=line), {})
    out: list[Record] = []
    for chunk in chunks:
        decoder.feed(chunk, out)
    decoder.finish(out)
    return out, decoder


@FUZZ
@given(jsonl_files(), st.lists(st.integers(0, 10_000), max_size=12))
def test_line_splitter_equals_split_of_the_whole_file(file, points):
    body, _ = file
    splitter = LineSplitter(part="p", max_line_bytes=1 << 20)
    lines: list[bytes] = []
    for chunk in cut(body, points):
        lines += splitter.feed(chunk)
    lines += splitter.finish()
    text = body[len(BOM):] if body.startswith(BOM) else body
    expected = text.split(b"\n")
    if expected and expected[-1] == b"":
        expected.pop()
    assert lines == expected
    assert splitter.offset == len(body) and splitter.line == len(expected)


@FUZZ
@given(jsonl_files(), st.lists(st.integers(0, 10_000), max_size=12))
def test_decoder_at_random_boundaries_equals_whole_file_parse(file, points):
    body, objs = file
    out, decoder = decode(cut(body, points))
    assert [r.data for r in out] == objs == whole_file_parse(body)
    for record in out:  # provenance: offset and line find the record in the file
        raw_line = body[record.offset:].split(b"\n", 1)[0]
        assert orjson.loads(raw_line) == record.data
        assert body[: record.offset].count(b"\n") == record.line - 1
    assert decoder.offset == len(body)


@FUZZ
@given(jsonl_files(), st.lists(st.integers(0, 10_000), max_size=8), st.integers(0, 10_000),
       st.lists(st.integers(0, 10_000), max_size=8))
def test_restart_at_any_checkpoint_delivers_exactly_the_rest(file, points, stop_at, points_after):
    body, objs = file
    chunks = cut(body, points)
    stop = stop_at % (len(chunks) + 1)
    decoder = JsonlDecoder(DecoderStart(PART, BadLines(), max_line_bytes=1 << 20), {})
    first: list[Record] = []
    for chunk in chunks[:stop]:
        decoder.feed(chunk, first)
    offset, line = decoder.offset, decoder.line  # what a checkpoint would save
    rest, _ = decode(cut(body[offset:], points_after), offset=offset, line=line)
    assert [r.data for r in first + rest] == objs
    assert all(r.offset >= offset for r in rest)


@FUZZ
@given(jsonl_files(), st.integers(1, 4), st.lists(st.integers(0, 10_000), max_size=12), st.integers(1, 64))
def test_gzip_layer_at_random_boundaries(file, members, points, piece_cap):
    body, objs = file
    size = max(1, len(body) // members + 1)
    compressed = b"".join(gzip.compress(body[i:i + size], mtime=0) for i in range(0, max(len(body), 1), size))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gzip_layer, "MAX_PIECE", piece_cap)
        gunzip = GunzipStream()
        plain = b"".join(piece for chunk in cut(compressed, points) for piece in gunzip.feed(chunk))
    assert not gunzip.truncated
    assert plain == body
    out, _ = decode([plain])
    assert [r.data for r in out] == objs


ORJSON_ONLY_LIMITS = ("infinity",)
"""Valid JSON that orjson cannot hold (a number beyond a double): the syntax
check accepts it and ``record.data`` raises, located."""


@st.composite
def mutated_lines(draw):  # type: ignore[no-untyped-def]
    """A JSON object line with a few random byte edits (never a newline)."""
    line = bytearray(orjson.dumps(draw(st.dictionaries(st.text(max_size=6), values, max_size=4))))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(line)))
        byte = draw(st.sampled_from(b'{}[]",:\\ \t\r0123456789-+.eEtrufalsn\x00\x1f\x7f\xc3\xa9\xff\xed\xa0\x80'))
        edit = draw(st.sampled_from(["insert", "replace", "delete"]))
        if edit == "insert":
            line.insert(at, byte)
        elif at < len(line):
            if edit == "replace":
                line[at] = byte
            else:
                del line[at]
    return bytes(line)


@settings(max_examples=1500, deadline=None)
@given(mutated_lines())
def test_the_syntax_check_accepts_exactly_the_objects_a_parser_accepts(line):
    bad = BadLines("skip")
    out: list[Record] = []
    decoder = JsonlDecoder(DecoderStart(PART, bad, max_line_bytes=1 << 20), {})
    decoder.feed(line + b"\n", out)
    decoder.finish(out)
    try:
        parsed, refused = orjson.loads(line), ""
    except orjson.JSONDecodeError as exc:
        parsed, refused = None, str(exc)
    if out:
        (record,) = out
        assert record.raw == line
        if refused:  # only orjson's own limits may differ, and they fail on access, located
            assert any(limit in refused for limit in ORJSON_ONLY_LIMITS), refused
        else:
            assert isinstance(parsed, dict) and record.data == parsed
    else:
        blank = not line.strip(b" \t\r")
        assert blank or refused or not isinstance(parsed, dict)
        assert bad.skipped == (0 if blank else 1)
