"""The streaming CSV decoder: framing, quoting, resume points and bad rows.

The reference for every expectation is the stdlib ``csv`` module parsing the
whole file at once; the decoder must agree with it whatever the chunking.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamer.decoding.badlines import BadLines
from streamer.decoding.base import make_decoder
from streamer.decoding.csv import CsvDecoder, parse_whole
from streamer.errors import ConfigError, DecodeError, LineTooLongError, RowCountMismatchError
from streamer.records import PartInfo, Record

INFO = PartInfo(source="test", index=0, export_id="15", name="DataExportHistory 15")


def decode(
    data: bytes,
    *,
    chunk: int | None = None,
    bad_lines: BadLines | None = None,
    max_line_bytes: int = 1 << 20,
    **options: object,
) -> tuple[list[Record], CsvDecoder]:
    decoder = make_decoder(
        "csv", INFO, bad_lines=bad_lines or BadLines(), max_line_bytes=max_line_bytes, options=options
    )
    out: list[Record] = []
    step = chunk or max(len(data), 1)
    for i in range(0, len(data), step):
        decoder.feed(data[i : i + step], out)
    decoder.finish(out)
    assert isinstance(decoder, CsvDecoder)
    return out, decoder


def expected_dicts(data: bytes) -> list[dict[str, str]]:
    rows = parse_whole(data)
    header = rows[0]
    return [dict(zip(header, row)) for row in rows[1:]]


# ------------------------------------------------------------------ edge cases

EDGE = (
    b'id,name,note\r\n'
    b'1,"Smith, John","first line\r\nsecond line"\r\n'
    b'2,plain,"he said ""hi"""\r\n'
    b'\r\n'
    b'3,"",empty name\r\n'
    b'4,last,"no newline at the end"'
)


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 17, None])
def test_quoted_newlines_commas_doubled_quotes_crlf_and_last_row_without_newline(chunk: int | None) -> None:
    records, decoder = decode(EDGE, chunk=chunk)
    assert [r.data for r in records] == expected_dicts(EDGE)
    assert records[0].data == {"id": "1", "name": "Smith, John", "note": "first line\r\nsecond line"}
    assert records[1].data["note"] == 'he said "hi"'
    assert records[3].data["note"] == "no newline at the end"
    # line/offset are those of each row's first physical line
    assert [(r.line, r.offset) for r in records] == [
        (2, EDGE.index(b"1,")),
        (4, EDGE.index(b"2,")),
        (6, EDGE.index(b"3,")),
        (7, EDGE.index(b"4,")),
    ]
    assert decoder.offset == len(EDGE) and decoder.line == 7
    assert decoder.state() == {"header": ["id", "name", "note"], "rows": 4}


@pytest.mark.parametrize("chunk", [1, 2, 4, None])
def test_bom_is_dropped_but_counted_in_offsets(chunk: int | None) -> None:
    data = b"\xef\xbb\xbfa,b\n1,2\n"
    records, decoder = decode(data, chunk=chunk)
    assert [r.data for r in records] == [{"a": "1", "b": "2"}]
    assert records[0].offset == data.index(b"1,2")
    assert decoder.offset == len(data)


def test_wrong_field_count_fails_with_location() -> None:
    data = b"a,b,c\n1,2,3\n4,5\n6,7,8\n"
    with pytest.raises(DecodeError) as caught:
        decode(data)
    assert caught.value.line == 3 and caught.value.offset == data.index(b"4,5")
    assert "2 fields, the header has 3" in str(caught.value)
    assert "DataExportHistory 15" in str(caught.value)


def test_wrong_field_count_skipped_and_dead_lettered(tmp_path: Path) -> None:
    data = b'a,b\n1,2\n"multi\nline",2,extra\n3,4\n'
    dead = tmp_path / "dead.jsonl"
    bad = BadLines("skip", dead)
    records, decoder = decode(data, chunk=3, bad_lines=bad)
    assert [r.data for r in records] == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]
    assert bad.skipped == 1
    assert bad.flush() == 1  # the engine flushes before each batch it hands to the sink
    entry = orjson.loads(dead.read_bytes())
    assert entry["line"] == 3 and entry["raw"] == '"multi\nline",2,extra'
    assert decoder.state() == {"header": ["a", "b"], "rows": 3}  # the skipped row still counts as a file row


def test_unterminated_quote_at_end_of_file() -> None:
    with pytest.raises(DecodeError, match="ended inside a quoted field"):
        decode(b'a,b\n1,"never closed\n2,3\n')


def test_max_line_bytes_applies_to_the_whole_logical_row() -> None:
    physical = b"x" * 600 + b"\n"
    data = b"a,b\n" + b'1,"' + physical * 3 + b'"\n'  # each physical line is short, the row is not
    with pytest.raises(LineTooLongError) as caught:
        decode(data, chunk=256, max_line_bytes=1024)
    assert caught.value.line == 2 and caught.value.offset == 4
    records, _ = decode(data, chunk=256, max_line_bytes=4096)
    assert len(records[0].data["b"]) == 3 * 601


def test_offset_and_line_only_advance_past_complete_rows() -> None:
    decoder = make_decoder("csv", INFO, bad_lines=BadLines(), max_line_bytes=1 << 20)
    out: list[Record] = []
    decoder.feed(b'a,b\n1,"open\nstill open', out)
    assert out == [] and (decoder.offset, decoder.line) == (4, 1)
    decoder.feed(b'"\n2,y\n', out)
    assert [r.data for r in out] == [{"a": "1", "b": "open\nstill open"}, {"a": "2", "b": "y"}]
    assert (decoder.offset, decoder.line) == (len(b'a,b\n1,"open\nstill open"\n2,y\n'), 4)


def test_cold_resume_from_state_needs_no_header() -> None:
    data = b"id,v\n1,a\n2,\"b\nb\"\n3,c\n"
    _, full = decode(data)
    # a checkpoint taken after row 1
    first, decoder = decode(data[: data.index(b"2,")])
    checkpoint_offset, state = decoder.offset, decoder.state()
    resumed = make_decoder(
        "csv", INFO, bad_lines=BadLines(), max_line_bytes=1 << 20,
        offset=checkpoint_offset, line=decoder.line, state=state,
        options={"expected_rows": 3},
    )
    out: list[Record] = []
    resumed.feed(data[checkpoint_offset:], out)
    resumed.finish(out)  # the row count carried in the state passes the check
    assert [r.data for r in first + out] == expected_dicts(data)
    assert out[0].line == 3 and out[0].offset == data.index(b"2,")
    with pytest.raises(ConfigError, match="without its header"):
        make_decoder("csv", INFO, bad_lines=BadLines(), max_line_bytes=1 << 20, offset=9)


def test_expected_rows_mismatch_is_reported() -> None:
    with pytest.raises(RowCountMismatchError, match="announced 3 rows but the file has 2 data rows"):
        decode(b"a\n1\n2\n", expected_rows=3, expected_rows_source="LogiSense DataExportHistory 15 (exportRowCount)")
    records, _ = decode(b"a\n1\n2\n", expected_rows=2)
    assert len(records) == 2


def test_options_delimiter_quotechar_encoding() -> None:
    data = "name;city\n'Müller; Hans';Zürich\n".encode("latin-1")
    records, _ = decode(data, delimiter=";", quotechar="'", encoding="latin-1")
    assert records[0].data == {"name": "Müller; Hans", "city": "Zürich"}
    with pytest.raises(ConfigError, match="not ASCII-compatible"):
        decode(b"", encoding="utf-16")


def test_duplicate_and_blank_header_names_never_overwrite() -> None:
    records, _ = decode(b"a,a,\n1,2,3\n")
    assert records[0].data == {"a": "1", "a_2": "2", "column_3": "3"}


def test_invalid_utf8_row_is_a_bad_row() -> None:
    bad = BadLines("skip")
    records, _ = decode(b"a\n\xff\xfe\nok\n", bad_lines=bad)
    assert [r.data for r in records] == [{"a": "ok"}] and bad.skipped == 1


# ------------------------------------------------------------------- property

cell = st.text(alphabet=st.sampled_from(list('ab, "\n\r\t;é€')), max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.lists(cell, min_size=3, max_size=3), min_size=0, max_size=25),
    crlf=st.booleans(),
    quote_all=st.booleans(),
    bom=st.booleans(),
    trailing_newline=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=12),
)
def test_random_chunk_boundaries_match_a_whole_file_parse(
    rows: list[list[str]], crlf: bool, quote_all: bool, bom: bool, trailing_newline: bool, cuts: list[int]
) -> None:
    buffer = io.StringIO(newline="")
    quoting = csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL
    writer = csv.writer(buffer, lineterminator="\r\n" if crlf else "\n", quoting=quoting)
    if not crlf and not quote_all:
        # A bare CR in an unquoted field is a row end to the stdlib and not to us
        # (rows end with LF or CRLF): csv.writer leaves it unquoted under an LF terminator.
        rows = [[c.replace("\r", "") for c in row] for row in rows]
    writer.writerow(["c1", "c2", "c3"])
    for row in rows:
        if row == ["", "", ""]:
            row = ["", "", "x"]  # csv.writer writes an all-empty row as a blank-looking line
        writer.writerow(row)
    data = buffer.getvalue().encode()
    if not trailing_newline:
        data = data.rstrip(b"\n").rstrip(b"\r") if not data.endswith(b'"\r\n') else data
    if bom:
        data = b"\xef\xbb\xbf" + data
    expected = expected_dicts(data)

    decoder = make_decoder("csv", INFO, bad_lines=BadLines(), max_line_bytes=1 << 20)
    out: list[Record] = []
    start = 0
    for cut in sorted({min(c, len(data)) for c in cuts}) + [len(data)]:
        decoder.feed(data[start:cut], out)
        start = cut
    decoder.finish(out)
    assert [r.data for r in out] == expected
    assert decoder.offset == len(data)
    for record in out:  # each record's offset is where its own row starts
        tail = data[record.offset :].decode()
        assert next(csv.reader(io.StringIO(tail, newline=""))) == list(record.data.values())
        assert data[: record.offset].count(b"\n") == record.line - 1
