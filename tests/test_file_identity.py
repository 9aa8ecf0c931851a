"""FileIdentity, answer by answer: what a server's response must prove before its bytes are believed.

The fault suites reach these checks through a real server, which makes a
wrong boundary (``>`` for ``>=``) or a swapped message hard to see there.
Here every rule of docs/server-answers.md is asserted directly: the plan
(bytes to skip, span, first response), the state it keeps, and the exact
error type and message of every refusal.
"""

from __future__ import annotations

import pytest

from streamer.engine.validation import BodyPlan, FileIdentity, _content_length, media_type_error
from streamer.errors import PartChangedError, PartError, SizeMismatchError

LABEL = "exp/part-0"
STRONG = '"v1"'


def refused(kind: type[PartError], message: str, call, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
    """``call`` raises exactly ``kind`` (not a subclass) with exactly ``message``."""
    with pytest.raises(PartError) as raised:
        call(*args, **kwargs)
    assert type(raised.value) is kind
    assert str(raised.value) == f"{LABEL}: {message}"
    assert raised.value.part == LABEL


def identity(announced: int | None = 100, **kwargs) -> FileIdentity:  # type: ignore[no-untyped-def]
    return FileIdentity(LABEL, announced=announced, **kwargs)


# ------------------------------------------------------------------ first answers


def test_a_first_200_is_read_whole_and_sets_the_identity() -> None:
    file = identity()
    plan = file.check(200, {"Content-Length": "100", "ETag": STRONG, "Last-Modified": "Mon"}, 0)
    assert plan == BodyPlan(skip=0, span=100, first=True)
    assert (file.length, file.encoding, file.etag, file.last_modified) == (100, "identity", STRONG, "Mon")
    assert file.expected_size == 100
    assert file.check(200, {"Content-Length": "100", "ETag": STRONG, "Last-Modified": "Mon"}, 0).first is False


def test_a_200_without_length_has_no_span() -> None:
    file = identity(None)
    assert file.check(200, {}, 0) == BodyPlan(skip=0, span=None, first=True)
    assert file.length is None and file.expected_size is None


def test_nothing_is_seen_before_the_first_check() -> None:
    file = identity()
    assert (file.length, file.encoding, file.etag, file.last_modified) == (None, None, None, None)
    assert file.expected_size is None  # the encoding is not known yet: the announced size cannot apply


def test_a_first_200_whose_length_differs_from_the_announced_size() -> None:
    refused(
        SizeMismatchError,
        "server says the file has 90 bytes (Content-Length) but the export announced 100",
        identity().check, 200, {"Content-Length": "90"}, 0,
    )


def test_a_first_206_whose_total_differs_from_the_announced_size() -> None:
    refused(
        SizeMismatchError,
        "server says the file has 90 bytes (Content-Range total) but the export announced 100",
        identity().check, 206, {"Content-Range": "bytes 0-89/90"}, 0,
    )


def test_a_compressed_file_is_not_held_to_the_announced_size() -> None:
    file = identity()
    plan = file.check(200, {"Content-Length": "40", "Content-Encoding": "gzip"}, 0)
    assert plan.span == 40 and file.length == 40 and file.encoding == "gzip"
    assert file.expected_size == 40  # the stored size counts other bytes than the ones served
    assert file.short_message(30) == "the file has 30 bytes but its first response said 40"


def test_a_length_known_from_a_checkpoint_is_checked_on_the_first_answer() -> None:
    file = identity(None, length=100, etag=STRONG)
    refused(
        PartChangedError,
        "file is now 120 bytes (Content-Length); its first response said 100",
        file.check, 200, {"Content-Length": "120", "ETag": STRONG}, 0,
    )


def test_a_later_answer_with_another_total_means_the_file_changed() -> None:
    file = identity(None)
    file.check(200, {"Content-Length": "100"}, 0)
    refused(
        PartChangedError,
        "file is now 120 bytes (Content-Range total); its first response said 100",
        file.check, 206, {"Content-Range": "bytes 50-119/120"}, 50,
    )
    assert file.length == 100


# ------------------------------------------------------------------ encodings


@pytest.mark.parametrize(
    ("header", "kept"), [(None, "identity"), ("", "identity"), (" GZip ", "gzip"), ("x-gzip", "x-gzip"), ("identity", "identity")]
)
def test_supported_encodings(header: str | None, kept: str) -> None:
    file = identity(None)
    file.check(200, {} if header is None else {"Content-Encoding": header}, 0)
    assert file.encoding == kept


def test_an_unsupported_encoding_is_refused() -> None:
    refused(PartError, "unsupported Content-Encoding 'br'", identity().check, 200, {"Content-Encoding": "BR"}, 0)


def test_an_encoding_that_changes_on_resume() -> None:
    file = identity(None)
    file.check(200, {"Content-Length": "100", "ETag": STRONG}, 0)
    refused(
        PartChangedError,
        "Content-Encoding changed from identity to gzip on resume",
        file.check, 206, {"Content-Range": "bytes 50-99/100", "ETag": STRONG, "Content-Encoding": "gzip"}, 50,
    )
    assert file.encoding == "identity"


# ------------------------------------------------------------------ validators


@pytest.mark.parametrize(
    ("headers", "now"),
    [({"ETag": '"v2"'}, 'became "v2"'), ({}, "is missing from the new response")],
)
def test_a_changed_or_missing_etag(headers: dict[str, str], now: str) -> None:
    file = identity()
    file.check(200, {"Content-Length": "100", "ETag": STRONG}, 0)
    refused(
        PartChangedError,
        f'file changed since it was first read (ETag "v1" {now}); refusing to mix two versions',
        file.check, 206, {"Content-Range": "bytes 50-99/100", **headers}, 50,
    )


def test_a_changed_last_modified() -> None:
    file = identity()
    file.check(200, {"Content-Length": "100", "Last-Modified": "Mon"}, 0)
    refused(
        PartChangedError,
        "file changed since it was first read (Last-Modified Mon became Tue); refusing to mix two versions",
        file.check, 206, {"Content-Range": "bytes 50-99/100", "Last-Modified": "Tue"}, 50,
    )
    refused(
        PartChangedError,
        "file changed since it was first read (Last-Modified Mon is missing from the new response); "
        "refusing to mix two versions",
        file.check, 206, {"Content-Range": "bytes 50-99/100"}, 50,
    )


def test_validators_from_a_checkpoint_are_kept_over_the_first_answer() -> None:
    file = identity(None, etag=STRONG, last_modified="Mon")
    file.check(200, {"Content-Length": "100", "ETag": STRONG, "Last-Modified": "Mon"}, 0)
    assert (file.etag, file.last_modified) == (STRONG, "Mon")


def test_validators_appearing_only_on_a_later_answer_are_not_adopted() -> None:
    file = identity()
    file.check(200, {"Content-Length": "100"}, 0)
    file.check(206, {"Content-Range": "bytes 50-99/100", "ETag": STRONG, "Last-Modified": "Mon"}, 50)
    assert (file.etag, file.last_modified) == (None, None)


# ------------------------------------------------------------------ 200 to a Range request


def test_a_200_to_a_range_request_skips_what_was_read() -> None:
    file = identity()
    file.check(200, {"Content-Length": "100", "ETag": STRONG}, 0)
    assert file.check(200, {"Content-Length": "100", "ETag": STRONG}, 40) == BodyPlan(skip=40, span=100, first=False)


def test_a_200_of_unknown_length_to_a_range_request_needs_a_strong_etag() -> None:
    file = identity(None)
    file.check(200, {"Content-Length": "100", "ETag": 'W/"v1"'}, 0)
    refused(
        PartChangedError,
        "server ignored Range bytes=40- and answered a 200 of unknown length without a strong ETag: "
        "cannot prove it is the same file",
        file.check, 200, {"ETag": 'W/"v1"'}, 40,
    )
    strong = identity(None)
    strong.check(200, {"Content-Length": "100", "ETag": STRONG}, 0)
    assert strong.check(200, {"ETag": STRONG}, 40) == BodyPlan(skip=40, span=None, first=False)


def test_a_200_of_unknown_length_is_accepted_when_no_length_was_ever_known() -> None:
    file = identity(None)
    file.check(200, {}, 0)
    assert file.check(200, {}, 40) == BodyPlan(skip=40, span=None, first=False)


# ------------------------------------------------------------------ 206


def resumable() -> FileIdentity:
    file = identity()
    file.check(200, {"Content-Length": "100", "ETag": STRONG}, 0)
    return file


def test_a_206_that_continues_exactly_where_asked() -> None:
    file = resumable()
    plan = file.check(206, {"Content-Range": " bytes 50-99/100 ", "Content-Length": "50", "ETag": STRONG}, 50)
    assert plan == BodyPlan(skip=0, span=50, first=False)


def test_a_first_206_records_the_total() -> None:
    file = identity(None)
    assert file.check(206, {"Content-Range": "bytes 0-99/100"}, 0) == BodyPlan(skip=0, span=100, first=True)
    assert file.length == 100


@pytest.mark.parametrize(("value", "shown"), [(None, "none"), ("", "none"), ("bytes 5-9", "bytes 5-9"), ("bytes=5-9/10", "bytes=5-9/10")])
def test_a_206_without_a_valid_content_range(value: str | None, shown: str) -> None:
    headers = {"ETag": STRONG} if value is None else {"Content-Range": value, "ETag": STRONG}
    refused(PartError, f"206 response without a valid Content-Range ({shown})", resumable().check, 206, headers, 50)


@pytest.mark.parametrize("value", ["bytes 60-50/100", "bytes 50-100/100", "bytes 50-120/100"])
def test_a_206_with_an_impossible_content_range(value: str) -> None:
    refused(PartError, f"206 response with an impossible Content-Range {value!r}", resumable().check, 206,
            {"Content-Range": value, "ETag": STRONG}, 50)


def test_a_206_of_one_byte_and_the_last_byte_are_possible() -> None:
    assert resumable().check(206, {"Content-Range": "bytes 99-99/100", "ETag": STRONG}, 99) == BodyPlan(0, 1, False)
    assert resumable().check(206, {"Content-Range": "bytes 50-50/100", "ETag": STRONG}, 50) == BodyPlan(0, 1, False)


def test_a_206_hiding_the_total_of_a_file_of_known_size() -> None:
    refused(PartError, "206 Content-Range 'bytes 50-99/*' hides the total (100 known)", resumable().check, 206,
            {"Content-Range": "bytes 50-99/*", "ETag": STRONG}, 50)


def test_a_206_hiding_the_total_of_a_file_of_unknown_size() -> None:
    file = identity(None)
    file.check(200, {"ETag": STRONG}, 0)
    assert file.check(206, {"Content-Range": "bytes 50-99/*", "ETag": STRONG}, 50) == BodyPlan(0, 50, False)
    assert file.length is None


def test_a_206_that_resumes_after_the_requested_byte() -> None:
    refused(PartError, "server resumed at byte 51, after the requested 50", resumable().check, 206,
            {"Content-Range": "bytes 51-99/100", "ETag": STRONG}, 50)


def test_a_206_that_resumes_earlier_needs_a_strong_etag() -> None:
    message = ("server resumed at byte 40, before the requested 50, without a strong ETag "
               "proving it is the same file: refusing to splice")
    weak = identity()
    weak.check(200, {"Content-Length": "100", "ETag": 'W/"v1"'}, 0)
    refused(PartError, message, weak.check, 206, {"Content-Range": "bytes 40-99/100", "ETag": 'W/"v1"'}, 50)
    none = identity()
    none.check(200, {"Content-Length": "100"}, 0)
    refused(PartError, message, none.check, 206, {"Content-Range": "bytes 40-99/100"}, 50)
    adopted_late = identity()
    adopted_late.check(200, {"Content-Length": "100"}, 0)
    refused(PartError, message, adopted_late.check, 206, {"Content-Range": "bytes 40-99/100", "ETag": STRONG}, 50)


def test_a_206_that_resumes_earlier_with_a_strong_etag_skips_the_overlap() -> None:
    plan = resumable().check(206, {"Content-Range": "bytes 40-99/100", "ETag": STRONG}, 50)
    assert plan == BodyPlan(skip=10, span=60, first=False)


def test_a_206_that_ends_before_the_requested_byte() -> None:
    refused(PartError, "206 Content-Range 'bytes 10-49/100' ends before the requested byte 50", resumable().check,
            206, {"Content-Range": "bytes 10-49/100", "ETag": STRONG}, 50)
    assert resumable().check(206, {"Content-Range": "bytes 10-50/100", "ETag": STRONG}, 50) == BodyPlan(40, 41, False)


def test_a_206_whose_content_length_differs_from_its_range() -> None:
    refused(PartError, "206 Content-Length 49 differs from its Content-Range 'bytes 50-99/100'", resumable().check,
            206, {"Content-Range": "bytes 50-99/100", "Content-Length": "49", "ETag": STRONG}, 50)


# ------------------------------------------------------------------ 416


def test_416_at_the_exact_end_is_done() -> None:
    file = resumable()
    assert file.check_not_satisfiable({"Content-Range": " bytes */100 "}, 100) is None
    identity(None).check_not_satisfiable({"Content-Range": "bytes */7"}, 7)  # no length known: the total decides


@pytest.mark.parametrize(("value", "shown"), [(None, "none"), ("bytes 0-1/2", "bytes 0-1/2"), ("bytes */", "bytes */")])
def test_416_without_the_size(value: str | None, shown: str) -> None:
    headers = {} if value is None else {"Content-Range": value}
    refused(PartError, f"server answered 416 to Range bytes=100- without Content-Range bytes */<size> ({shown}): "
            "cannot tell whether the file ends there", resumable().check_not_satisfiable, headers, 100)


def test_416_with_a_smaller_file() -> None:
    refused(PartChangedError, "file shrank to 99 bytes after 100 were read", resumable().check_not_satisfiable,
            {"Content-Range": "bytes */99"}, 100)


def test_416_with_a_larger_file() -> None:
    refused(PartError, "server refused Range bytes=100- (416) although it says the file has 101 bytes",
            resumable().check_not_satisfiable, {"Content-Range": "bytes */101"}, 100)


def test_416_at_an_end_other_than_the_first_answers_length() -> None:
    refused(PartChangedError, "file is now 60 bytes; its first response said 100", resumable().check_not_satisfiable,
            {"Content-Range": "bytes */60"}, 60)


# ------------------------------------------------------------------ end of body


def test_a_body_longer_than_it_announced() -> None:
    refused(PartError, "response body has 51 bytes, more than the 50 it announced", resumable().check_end, 101, 51, 50)


def test_end_against_the_expected_size() -> None:
    file = resumable()
    assert file.check_end(100, 50, 50) is True
    assert file.check_end(99, 49, 50) is False
    assert file.check_end(100, 100, None) is True
    refused(SizeMismatchError, "received 101 bytes but the export announced 100", file.check_end, 101, 101, None)


def test_end_against_the_first_answers_length() -> None:
    file = identity(None)
    file.check(200, {"Content-Length": "80"}, 0)
    refused(SizeMismatchError, "received 81 bytes but its first response said 80", file.check_end, 81, 81, None)
    assert file.short_message(70) == "the file has 70 bytes but its first response said 80"


def test_end_of_a_file_of_unknown_size() -> None:
    file = identity(None)
    file.check(200, {}, 0)
    assert file.check_end(500, 500, None) is True  # nothing to compare with: a clean end is the end
    assert file.check_end(500, 50, 50) is True
    assert file.check_end(500, 49, 50) is False


def test_short_message_names_the_announced_size() -> None:
    assert resumable().short_message(60) == "the file has 60 bytes but the export announced 100"


# ------------------------------------------------------------------ helpers


@pytest.mark.parametrize(
    ("content_type", "error"),
    [
        ("text/html; charset=utf-8", "an HTML page (text/html; charset=utf-8)"),
        (" TEXT/HTML ", "an HTML page ( TEXT/HTML )"),
        ("application/xhtml+xml", "an HTML page (application/xhtml+xml)"),
        ("application/xhtml", "an HTML page (application/xhtml)"),
        ("application/json", None),
        ("application/x-ndjson; charset=text/html", None),
        ("", None),
    ],
)
def test_media_type_error(content_type: str, error: str | None) -> None:
    assert media_type_error(content_type) == error


@pytest.mark.parametrize(("value", "length"), [("12", 12), (" 12 ", 12), ("0", 0), ("-1", None), ("abc", None), ("", None)])
def test_content_length(value: str, length: int | None) -> None:
    assert _content_length({"Content-Length": value}) == length
    assert _content_length({}) is None


def test_a_last_modified_from_a_checkpoint_is_checked_on_the_first_answer() -> None:
    file = identity(None, last_modified="Mon")
    refused(
        PartChangedError,
        "file changed since it was first read (Last-Modified Mon became Tue); refusing to mix two versions",
        file.check, 200, {"Content-Length": "100", "Last-Modified": "Tue"}, 0,
    )
