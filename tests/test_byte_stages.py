"""The byte stages between the socket and a decoder (streamer/decoding/stages.py)."""

from __future__ import annotations

import gzip

import pytest

from streamer.decoding import stages

DATA = b"".join(b'{"n":%d}\n' % i for i in range(2000))


def run_chain(chain: stages.ByteChain, chunks) -> bytes:
    out = [piece for chunk in chunks for piece in chain.decode(chunk)]
    out.extend(chain.flush())
    return b"".join(out)


def chunks_of(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_a_plain_body_leaves_an_empty_chain_that_passes_chunks_through_untouched() -> None:
    chain = stages.ByteChain([stages.GzipSniffer(), stages.HtmlGuard()])
    first = list(chain.decode(DATA[:100]))
    assert b"".join(first) == DATA[:100]
    assert chain.stages == [] and not chain.inflates
    chunk = DATA[100:]
    passed = chain.decode(chunk)
    assert passed == (chunk,) and passed[0] is chunk  # no generator, no copy


@pytest.mark.parametrize("size", [1, 2, 3, 7, 4096])
@pytest.mark.parametrize("gzipped", [False, True])
def test_sniffing_and_guarding_survive_any_chunking(size: int, gzipped: bool) -> None:
    body = gzip.compress(DATA) + gzip.compress(b'{"n":"last"}\n') if gzipped else DATA
    chain = stages.ByteChain([stages.GzipSniffer(), stages.HtmlGuard()])
    expected = DATA + b'{"n":"last"}\n' if gzipped else DATA
    assert run_chain(chain, chunks_of(body, size)) == expected
    assert chain.inflates == gzipped


@pytest.mark.parametrize("size", [1, 3, 5, 1000])
def test_skip_drops_exactly_the_delivered_bytes_after_decompression(size: int) -> None:
    chain = stages.ByteChain([stages.Gunzip(), stages.SkipBytes(1234)])
    assert run_chain(chain, chunks_of(gzip.compress(DATA), size)) == DATA[1234:]


@pytest.mark.parametrize(
    "start",
    [b"<!DOCTYPE html>", b"\xef\xbb\xbf<html>", b"\n \t\r\n<HTML lang=en>", b"<!doctype HTML>"],
)
@pytest.mark.parametrize("size", [1, 4, 100])
def test_an_html_start_is_refused_however_it_is_chunked(start: bytes, size: int) -> None:
    chain = stages.ByteChain([stages.HtmlGuard()])
    with pytest.raises(stages.ByteStageError, match="HTML page"):
        run_chain(chain, chunks_of(start + b"<body>sign in</body></html>", size))


@pytest.mark.parametrize("body", [b"<", b"  <ht", b"\xef\xbb\xbf", b"<hello>,x\n", b"<!-- note -->\n{}"])
def test_bodies_that_only_begin_like_html_pass_whole(body: bytes) -> None:
    assert run_chain(stages.ByteChain([stages.HtmlGuard()]), chunks_of(body, 1)) == body


def test_a_gzip_stream_cut_inside_a_member_cannot_end() -> None:
    payload = gzip.compress(DATA)
    chain = stages.ByteChain([stages.Gunzip("gzip file")])
    list(chain.decode(payload[:-3]))
    with pytest.raises(stages.IncompleteStream, match="gzip file ends inside a gzip member"):
        list(chain.flush())
    assert b"".join(chain.decode(payload[-3:])) == b"" and list(chain.flush()) == []  # resumable


def test_zero_padding_after_the_last_member_is_ignored_even_when_split() -> None:
    chain = stages.ByteChain([stages.Gunzip()])
    assert run_chain(chain, [gzip.compress(DATA), b"\x00" * 10, b"\x00" * 500]) == DATA


def test_trailing_garbage_after_a_member_is_refused() -> None:
    with pytest.raises(stages.ByteStageError, match="not valid gzip after 1 complete member "):
        run_chain(stages.ByteChain([stages.Gunzip()]), [gzip.compress(DATA) + b"garbage!!"])
