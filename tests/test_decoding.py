"""JSONL and gzip decoding: bad-line policies, dead letters, multi-member gzip."""

import gzip
import zlib

import orjson
import pytest

from streamer.decoding.badlines import BadLines
from streamer.decoding.base import make_decoder
from streamer.decoding.gzip import GunzipStream
from streamer.errors import DecodeError
from streamer.records import PartInfo

PART = PartInfo(source="test", index=3, entity_type="OrderItem", export_id="e1")


def decode(data: bytes, bad_lines: BadLines | None = None) -> list:
    decoder = make_decoder("jsonl", PART, bad_lines=bad_lines or BadLines(), max_line_bytes=1 << 20)
    out: list = []
    decoder.feed(data, out)
    decoder.finish(out)
    return out


def test_records_carry_provenance_and_unknown_fields() -> None:
    records = decode(b'{"Id":"a","NewField":{"x":1}}\n\n{"Id":"b"}\r\n')
    assert [r.data for r in records] == [{"Id": "a", "NewField": {"x": 1}}, {"Id": "b"}]
    assert [(r.line, r.offset) for r in records] == [(1, 0), (3, 31)]
    assert records[0].entity_type == "OrderItem"
    assert records[0].part.key == "test/e1/3"


def test_bad_line_fails_with_its_location() -> None:
    with pytest.raises(DecodeError) as info:
        decode(b'{"Id":"a"}\n{"Id": oops}\n')
    message = str(info.value)
    assert "OrderItem part 3 of export e1, line 2, byte offset 11" in message
    assert "invalid JSON" in message


@pytest.mark.parametrize(
    ("line", "kind"),
    [(b"[1,2]", "array"), (b' "x"', "string"), (b"12", "number"), (b"-1.5", "number"), (b"true", "boolean"), (b"null", "null")],
)
def test_non_object_lines_are_bad(line: bytes, kind: str) -> None:
    with pytest.raises(DecodeError, match=f"line 2, byte offset 11: expected a JSON object, got {kind}"):
        decode(b'{"Id":"a"}\n' + line + b"\n")


@pytest.mark.parametrize(
    "line",
    [b'{"a": 1x}', b'{"a":1,}', b'{"a": "\\q"}', b'{"a": "\\ud800\\u0041"}', b'{"a": "x\ty"}', b'{"a": 01}', b'{"a": 1} {}', b"{"],
)
def test_the_syntax_check_refuses_what_a_parser_refuses(line: bytes) -> None:
    with pytest.raises(DecodeError, match="line 1, byte offset 0: invalid JSON"):
        decode(line + b"\n")


def test_invalid_utf8_is_a_bad_line() -> None:
    with pytest.raises(DecodeError, match="line 2, byte offset 11: invalid UTF-8 at byte 7"):
        decode(b'{"Id":"a"}\n{"Id":"\xff\xfe"}\n')
    (record,) = decode('{"Name":"Zoë Åström"}\n'.encode())
    assert record.data == {"Name": "Zoë Åström"}


@pytest.mark.parametrize(("depth", "accepted"), [(1020, True), (1100, False), (5000, False)])
def test_deep_nesting_is_judged_like_orjson_judges_it(depth: int, accepted: bool) -> None:
    line = b'{"a":' + b"[" * depth + b"]" * depth + b"}\n"
    policy = BadLines("skip")
    records = decode(line, policy)  # msgspec runs out of C stack first: orjson decides, no RecursionError
    assert (len(records), policy.skipped) == ((1, 0) if accepted else (0, 1))
    if accepted:
        assert isinstance(records[0].data["a"], list)


def test_valid_json_orjson_cannot_hold_fails_on_access_with_its_location() -> None:
    (record,) = decode(b'{"n": 1e400}\n')
    assert record.to_json() == b'{"n": 1e400}'  # passed through as sent
    with pytest.raises(DecodeError, match="line 1, byte offset 0: cannot decode"):
        record.data


def test_skip_counts_and_dead_letters(tmp_path) -> None:
    dead = tmp_path / "dead.jsonl"
    policy = BadLines("skip", dead_letter=dead)
    records = decode(b'{"Id":"a"}\nnot json\n{"Id":"b"}\n\xff\xfe\n', policy)
    assert [r.data["Id"] for r in records] == ["a", "b"]
    assert policy.skipped == 2
    assert not dead.exists() and policy.pending == 2  # kept until the engine commits a batch
    assert policy.flush() == 2
    assert policy.flush() == 0
    entries = [orjson.loads(line) for line in dead.read_bytes().splitlines()]
    assert [(e["line"], e["offset"]) for e in entries] == [(2, 11), (4, 31)]
    assert entries[0]["raw"] == "not json"
    assert entries[1]["raw_base64"] == "//4="
    assert oct(dead.stat().st_mode & 0o777) == "0o600"


def test_unknown_policy_is_rejected() -> None:
    with pytest.raises(ValueError):
        BadLines("ignore")  # type: ignore[arg-type]


def test_gunzip_multi_member_and_split_input() -> None:
    payload = gzip.compress(b"first\n") + gzip.compress(b"second\n")
    for cut in range(len(payload) + 1):
        stream = GunzipStream()
        out = b"".join(stream.feed(payload[:cut])) + b"".join(stream.feed(payload[cut:]))
        assert out == b"first\nsecond\n"
        assert not stream.truncated


def test_gunzip_reports_truncation() -> None:
    payload = gzip.compress(b"x" * 10000)
    stream = GunzipStream()
    b"".join(stream.feed(payload[:-10]))
    assert stream.truncated


def test_gunzip_caps_output_pieces() -> None:
    payload = gzip.compress(b"\n" * (8 << 20))
    pieces = list(GunzipStream().feed(payload))
    assert sum(map(len, pieces)) == 8 << 20
    assert max(map(len, pieces)) <= 1 << 20


def test_gunzip_rejects_garbage() -> None:
    with pytest.raises(zlib.error):
        list(GunzipStream().feed(b"definitely not gzip data"))


def test_to_json_is_the_line_as_sent_without_its_line_ending() -> None:
    records = decode(b'{"Id":"a","n":[1.10,2]}\n{ "Id" : "b",\t"s": "x y" }\r\n{"Id":"c"}\r\n')
    assert [r.to_json() for r in records] == [
        b'{"Id":"a","n":[1.10,2]}',  # the number's text is kept, not re-encoded as 1.1
        b'{ "Id" : "b",\t"s": "x y" }',
        b'{"Id":"c"}',
    ]
    assert records[0].to_json() is records[0].raw  # passed through untouched
    assert all(r.value is None for r in records)  # nothing decoded was kept
    records[1].data["s"] = "edited"
    assert records[1].to_json() == b'{"Id":"b","s":"edited"}'  # decoded: encoded as it is now


def test_data_decodes_once_and_keeps_it() -> None:
    (record,) = decode(b'{"Id":"a","Amount":{"NetValue":1.5}}\n')
    assert record.value is None
    assert record.data == {"Id": "a", "Amount": {"NetValue": 1.5}}
    assert record.data is record.data
    assert record.decoded() == record.data


def test_to_jsonl_passes_lines_through_and_encodes_decoded_records() -> None:
    from streamer.records import to_jsonl

    plain = decode(b'{"Id":"a"}\n{"Id": "b", "n": [1]}\n')
    assert to_jsonl(plain) == b'{"Id":"a"}\n{"Id": "b", "n": [1]}\n'
    mixed = decode(b'{"Id":"a"}\r\n{ "Id": "b" }\r\n{"Id":"c",\r"n":1}\n')
    mixed[0].data["Id"] = "changed"  # a decoded (and edited) record is written as it is now
    # a CR between tokens would read as a line break to a text-mode reader: dropped too
    assert to_jsonl(mixed) == b'{"Id":"changed"}\n{ "Id": "b" }\n{"Id":"c","n":1}\n'
    assert mixed[2].to_json() == b'{"Id":"c","n":1}'
    assert all(len(line.splitlines()) == 1 for line in to_jsonl(mixed).decode().splitlines())
    assert to_jsonl([]) == b""


def test_a_registered_format_starts_where_make_decoder_says(monkeypatch: pytest.MonkeyPatch) -> None:
    """A provider's own format gets one DecoderStart: position, state, bad-line policy and label."""
    import streamer.decoding.base as base
    from streamer.decoding.base import DecoderStart, register_decoder
    from streamer.decoding.jsonl import JsonlDecoder

    monkeypatch.setattr(base, "_REGISTERED", dict(base._REGISTERED))  # the format is gone after the test

    seen: list[tuple[DecoderStart, dict]] = []

    def factory(start: DecoderStart, options: dict) -> JsonlDecoder:
        seen.append((start, dict(options)))
        return JsonlDecoder(start, options)

    register_decoder("test-start", factory)  # type: ignore[arg-type]
    bad = BadLines("skip")
    decoder = make_decoder(
        "test-start", PART, bad_lines=bad, max_line_bytes=64, offset=100, line=7, state={"k": 1}, options={"o": 2}
    )
    [(start, options)] = seen
    assert (start.offset, start.line, start.state, start.max_line_bytes) == (100, 7, {"k": 1}, 64)
    assert start.bad_lines is bad and start.label == PART.describe() and options == {"o": 2}
    out: list = []
    decoder.feed(b'{"a":1}\nnot json\n', out)
    assert [(r.line, r.offset) for r in out] == [(8, 100)]
    assert (decoder.offset, decoder.line) == (117, 9)
    assert bad.by_part == {PART.describe(): 1}
