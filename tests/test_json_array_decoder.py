"""The streaming JSON array / JSON:API decoder: boundaries anywhere, exact positions, resume."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamer.decoding.badlines import BadLines
from streamer.decoding.base import make_decoder
from streamer.errors import DecodeError, LineTooLongError
from streamer.records import PartInfo

PART = PartInfo(source="test", index=0, entity_type="transactions", export_id="x1", name="export.json")

# Strings full of the characters a naive scanner trips on.
tricky_text = st.lists(st.sampled_from([*'ab{}[],:"\\ \n\té€', "},{", '"}', "}]", "\\u00e9"]), max_size=8).map("".join)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | tricky_text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(tricky_text, children, max_size=3),
    max_leaves=8,
)
record = st.dictionaries(tricky_text, json_value, max_size=5)


def chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:])]


def decode(pieces, fmt="json", bad_lines=None, **kwargs):
    decoder = make_decoder(fmt, PART, bad_lines=bad_lines or BadLines(), max_line_bytes=1 << 20, **kwargs)
    out: list = []
    for piece in pieces:
        decoder.feed(piece, out)
    decoder.finish(out)
    return out, decoder


def line_of(data: bytes, offset: int) -> int:
    return data[:offset].count(b"\n") + 1


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(record, max_size=12), indent=st.booleans(), cuts=st.lists(st.integers(0, 10**6), max_size=30))
def test_any_chunking_yields_every_element_once_at_its_position(records, indent, cuts):
    data = orjson.dumps(records, option=orjson.OPT_INDENT_2 if indent else 0)
    out, decoder = decode(chunks(data, cuts))
    assert [r.data for r in out] == records
    for r in out:
        assert data[r.offset : r.offset + 1] == b"{"
        assert r.line == line_of(data, r.offset)
    assert decoder.offset <= len(data)


@settings(max_examples=60, deadline=None)
@given(records=st.lists(record, min_size=1, max_size=10), cuts=st.lists(st.integers(0, 10**6), max_size=20), data=st.data())
def test_resume_from_any_checkpoint_continues_mid_array(records, cuts, data):
    doc = orjson.dumps(records, option=orjson.OPT_INDENT_2)
    pieces = chunks(doc, cuts)
    stop = data.draw(st.integers(0, len(pieces)))
    first = make_decoder("json", PART, bad_lines=BadLines(), max_line_bytes=1 << 20)
    delivered: list = []
    for piece in pieces[:stop]:
        first.feed(piece, delivered)
    # A new process: only the checkpoint (offset, line, state) survives.
    rest, _ = decode([doc[first.offset :]], offset=first.offset, line=first.line, state=first.state())
    assert [r.data for r in delivered + rest] == records
    assert all(r.line == line_of(doc, r.offset) for r in rest)


@settings(max_examples=60, deadline=None)
@given(records=st.lists(record, max_size=8), cuts=st.lists(st.integers(0, 10**6), max_size=20))
def test_json_api_streams_data_whatever_surrounds_it(records, cuts):
    resources = [{"type": "customers", "id": str(i), "attributes": r} for i, r in enumerate(records)]
    doc = orjson.dumps({"meta": {"x": "]}{[", "n": [1, {"a": []}]}, "data": resources, "included": [{"type": "t"}]})
    out, _ = decode(chunks(doc, cuts), fmt="json-api")
    assert [r.data for r in out] == resources


def test_element_positions_in_a_pretty_printed_array():
    data = b'\xef\xbb\xbf[\n  {"id": 1},\n  {"id": 2, "s": "},{"}\n]\n'
    out, decoder = decode([data])
    assert [(r.data["id"], r.line, r.offset) for r in out] == [(1, 2, 7), (2, 3, 20)]
    assert decoder.state() == {"stage": "sep"}


def test_json_api_single_resource_and_null_data():
    out, _ = decode([b'{"data": {"type": "t", "id": "1"}, "meta": {}}'], fmt="json-api")
    assert [r.data for r in out] == [{"type": "t", "id": "1"}]
    out, _ = decode([b'{"data": null}'], fmt="json-api")
    assert out == []


def test_truncated_array_is_an_error_not_a_silent_end():
    with pytest.raises(DecodeError, match="ended early"):
        decode([b'[{"a": 1}, {"a": 2}'])
    with pytest.raises(DecodeError, match="ended early inside an element"):
        decode([b'[{"a": 1}, {"a": '])


def test_structural_errors_name_the_position():
    with pytest.raises(DecodeError, match="line 1, byte offset 9: trailing ','"):
        decode([b'[{"a":1},]'])
    with pytest.raises(DecodeError, match="expected a JSON array"):
        decode([b'{"a": 1}'])
    with pytest.raises(DecodeError, match="unexpected data after the end"):
        decode([b'[{"a":1}] [2]'])


def test_malformed_element_is_skipped_with_its_location(tmp_path):
    dead = tmp_path / "dead.jsonl"
    bad_lines = BadLines("skip", dead)
    out, _ = decode([b'[{"a":1},\n {"a": tru},\n 7,\n {"a":3}]'], bad_lines=bad_lines)
    assert [r.data for r in out] == [{"a": 1}, {"a": 3}]
    assert bad_lines.skipped == 2
    bad_lines.flush()  # as the engine does before each batch
    letters = [orjson.loads(line) for line in dead.read_bytes().splitlines()]
    assert [(d["line"], d["offset"]) for d in letters] == [(2, 11), (3, 24)]


def test_oversized_element_is_refused_with_bounded_memory():
    decoder = make_decoder("json", PART, bad_lines=BadLines(), max_line_bytes=4096)
    with pytest.raises(LineTooLongError, match="JSON element longer than max_line_bytes=4096"):
        decoder.feed(b'[{"a": "' + b"x" * 5000, [])


def test_many_nested_objects_in_arrays_are_framed_exactly():
    records = [{"id": i, "items": [{"sku": j, "note": "},{"} for j in range(30)]} for i in range(50)]
    data = orjson.dumps(records)
    out, _ = decode([data[i : i + 1000] for i in range(0, len(data), 1000)])
    assert [r.data for r in out] == records


@pytest.mark.parametrize("step", [1, 333, 65536])
def test_braces_inside_strings_switch_to_exact_framing_and_stay_correct(step):
    # Every element holds an unbalanced brace in a string (plus escapes), so the brace-balance
    # hint never proves an end: the decoder must fall back to structural framing, across chunks.
    records = [{"id": i, "note": 'closing } brace \\ and "quote" {{', "pad": "x" * (i % 50)} for i in range(2500)]
    data = orjson.dumps(records, option=orjson.OPT_INDENT_2)
    assert len(data) > 3 * 65536
    out, _ = decode([data[i : i + step] for i in range(0, len(data), step)])
    assert [r.data for r in out] == records
    assert all(r.line == line_of(data, r.offset) for r in out[::97])
