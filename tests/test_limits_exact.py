"""Limits hold at their exact edge (issue 18, mutation survivors): line length, Mews' request window.

Each assertion sits on a boundary a one-character change moves: a line of
exactly ``max_line_bytes`` passes and one byte more fails at its exact
line and offset; the limiter keeps Mews' 200 per 30 s and waits for the
*oldest* request to leave the window.
"""

from __future__ import annotations

import logging
import secrets

import pytest

from streamer.decoding.lines import LineSplitter
from streamer.errors import LineTooLongError
from streamer.providers.mews.limiter import SlidingWindowLimiter, limiter_for, reset_limiters


def test_a_line_of_exactly_the_limit_passes_and_one_byte_more_fails_where_it_is() -> None:
    limit = 200
    exact = b"x" * limit
    splitter = LineSplitter(part="part 3", max_line_bytes=limit)
    assert splitter.feed(b"ab\n" + exact + b"\ncd\n") == [b"ab", exact, b"cd"]

    long_line = b"y" * (limit + 1)
    splitter = LineSplitter(part="part 3", max_line_bytes=limit, offset=1000, line=10)
    with pytest.raises(LineTooLongError) as info:
        splitter.feed(b"ab\n" + exact + b"\n" + long_line + b"\nzz\n")
    error = info.value
    assert (error.part, error.line, error.offset) == ("part 3", 13, 1000 + 3 + limit + 1)
    assert error.snippet == long_line[:120]
    assert error.reason == f"line of {limit + 1} bytes exceeds max_line_bytes={limit}"
    assert str(error).startswith(f"part 3, line 13, byte offset {1000 + 3 + limit + 1}: line of 201 bytes")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_defaults_are_mews_quota() -> None:
    limiter = SlidingWindowLimiter()
    assert (limiter.max_requests, limiter.window, limiter.waited) == (200, 30.0, 0.0)


@pytest.mark.parametrize("max_requests, window", [(0, 30.0), (-1, 30.0), (200, 0.0), (200, -1.0)])
def test_a_limit_that_lets_nothing_through_is_refused(max_requests: int, window: float) -> None:
    with pytest.raises(ValueError, match=r"^a rate limit needs max_requests >= 1 and a positive window$"):
        SlidingWindowLimiter(max_requests, window)


@pytest.mark.parametrize("max_requests, window", [(1, 30.0), (1, 0.5), (200, 1.0)])
def test_the_smallest_real_limits_are_accepted(max_requests: int, window: float) -> None:
    limiter = SlidingWindowLimiter(max_requests, window)
    assert (limiter.max_requests, limiter.window) == (max_requests, window)


async def test_a_full_window_waits_for_its_oldest_request_and_adds_up_the_waits() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(2, 10.0, clock=clock, sleep=clock.sleep)
    await limiter.acquire()  # t = 1000
    clock.now += 3
    await limiter.acquire()  # t = 1003
    assert limiter.delay() == pytest.approx(7.0)  # until the one sent at 1000 leaves, not the one at 1003
    await limiter.acquire()  # waits 7 s
    assert clock.now == pytest.approx(1010.0) and limiter.waited == pytest.approx(7.0)
    await limiter.acquire()  # the one at 1003 leaves at 1013: 3 s more
    assert clock.now == pytest.approx(1013.0) and limiter.waited == pytest.approx(10.0)


def test_a_shared_limiter_keeps_the_limits_it_was_made_with() -> None:
    reset_limiters()
    try:
        custom = limiter_for("token-custom-123456", 5, 2.0)
        assert (custom.max_requests, custom.window) == (5, 2.0)
        default = limiter_for("token-default-123456")
        assert (default.max_requests, default.window) == (200, 30.0)
    finally:
        reset_limiters()


def test_unparseable_and_hostless_urls_are_shown_without_their_query() -> None:
    from streamer.http.redact import redact_url

    assert redact_url("http://[::1/x?token=abc") == "<unparseable url>"
    assert redact_url("file:///exports/a.jsonl?token=abc") == "file:///exports/a.jsonl?…"


def test_the_backoff_exponent_is_capped_at_2_to_the_32() -> None:
    from streamer.http.retry import RetryPolicy

    unbounded = RetryPolicy(initial_delay=1.0, max_delay=float("inf"), jitter=0.0)
    assert unbounded.backoff(33) == 2.0**32 and unbounded.backoff(10_000) == 2.0**32


async def test_progress_resets_the_budget_once_then_failures_count_again() -> None:
    from streamer.errors import RetryableHTTPError
    from streamer.http.retry import RetryPolicy

    delivered = [0]
    attempts = 0
    policy = RetryPolicy(max_attempts=3, initial_delay=0.0, max_delay=0.0, jitter=0.0)
    with pytest.raises(RetryableHTTPError):
        async for attempt in policy.retrying(progress=lambda: delivered[0]):
            with attempt:
                attempts += 1
                assert attempts < 20, "the budget never ran out"
                if attempts == 2:
                    delivered[0] = 10  # this attempt made progress, then failed
                raise RetryableHTTPError("503")
    # 1 failure, then progress resets the count: 3 more failures without progress
    assert attempts == 4


async def test_retry_log_lines_name_the_wait_the_error_type_and_its_message(caplog) -> None:
    from streamer.errors import RetryableHTTPError
    from streamer.http.retry import RetryPolicy

    failures = iter([TimeoutError(), RetryableHTTPError("busy", status=503, retry_after=0.04)])
    seen: list[tuple[str, float]] = []
    policy = RetryPolicy(max_attempts=5, initial_delay=0.01, max_delay=0.01, jitter=0.0)
    with caplog.at_level(logging.INFO, logger="streamer.retry"):
        async for attempt in policy.retrying(on_retry=lambda exc, delay: seen.append((type(exc).__name__, delay))):
            with attempt:
                if (failure := next(failures, None)) is not None:
                    raise failure
    assert [r.getMessage() for r in caplog.records if r.name == "streamer.retry"] == [
        "retrying in 0.0s after TimeoutError",  # an empty message: the type alone
        "retrying in 0.0s after RetryableHTTPError: busy — HTTP 503",
    ]
    assert seen == [("TimeoutError", 0.01), ("RetryableHTTPError", 0.04)]


def test_secrets_of_six_characters_or_more_are_masked() -> None:
    from streamer.http.redact import redact_text, register_secret

    six, five = secrets.token_hex(3), secrets.token_hex(3)[:5]  # fresh: the registry is process-wide
    register_secret(six)  # exactly six
    register_secret(five)  # five: too short to mask without mangling ordinary words
    assert redact_text(f"auth {six} and {five}") == f"auth *** and {five}"


BOM = b"\xef\xbb\xbf"


def test_a_bom_split_over_three_chunks_is_stripped_and_counted_in_the_offset() -> None:
    splitter = LineSplitter(part="p", max_line_bytes=100)
    assert splitter.feed(BOM[:1]) == [] and splitter.feed(BOM[1:2]) == []
    assert splitter.feed(BOM[2:] + b'{"a":1}\n{"b"') == [b'{"a":1}']
    assert (splitter.bom, splitter.offset, splitter.line, splitter.buffered) == (3, 3 + 8, 1, 4)
    assert splitter.feed(b":2}\n") == [b'{"b":2}']


def test_a_short_first_chunk_that_is_no_bom_is_not_held_back() -> None:
    splitter = LineSplitter(part="p", max_line_bytes=100)
    assert splitter.feed(b"7") == []
    assert splitter.feed(b"\n") == [b"7"]  # at once, not at the end of the file
    assert (splitter.offset, splitter.bom) == (2, 0)


def test_a_file_of_one_line_without_newline_is_flushed_at_the_end() -> None:
    splitter = LineSplitter(part="p", max_line_bytes=100)
    assert splitter.feed(b'{"only":1}') == []
    assert splitter.finish() == [b'{"only":1}']
    assert (splitter.offset, splitter.line, splitter.buffered) == (10, 1, 0)
    tiny = LineSplitter(part="p", max_line_bytes=100)
    tiny.feed(b"{}")  # shorter than a BOM
    assert tiny.finish() == [b"{}"] and tiny.buffered == 0
    only_bom = LineSplitter(part="p", max_line_bytes=100)
    only_bom.feed(BOM)
    assert only_bom.finish() == [] and only_bom.offset == 3


def test_a_held_partial_line_may_reach_the_limit_but_not_pass_it() -> None:
    splitter = LineSplitter(part="part 1", max_line_bytes=12, offset=40, line=4)
    assert splitter.feed(b"x" * 12) == []  # exactly the limit, still waiting for its newline
    assert splitter.feed(b"\n") == [b"x" * 12]
    splitter.feed(b"y" * 7)
    with pytest.raises(LineTooLongError) as info:
        splitter.feed(b"z" * 6)
    error = info.value
    assert (error.part, error.line, error.offset, error.snippet) == ("part 1", 6, 53, b"y" * 7)
    assert error.reason == "line longer than max_line_bytes=12 (no newline in the next 13 bytes)"
    wide = LineSplitter(part="p", max_line_bytes=200)
    wide.feed(b"y" * 150)
    with pytest.raises(LineTooLongError) as info:
        wide.feed(b"z" * 60)
    assert info.value.snippet == b"y" * 120  # the snippet is capped at 120 bytes
