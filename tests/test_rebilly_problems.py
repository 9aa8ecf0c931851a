"""RFC 7807 problem bodies → one clear line; Rebilly's rate-limit timestamp → a wait."""

from __future__ import annotations

from streamer.http.responses import retry_after_of
from streamer.providers.rebilly import problem_text


def test_validation_problem_lists_every_invalid_field():
    text = problem_text({
        "type": "https://www.rebilly.com/catalog/all/section/errors/invalid-data",
        "title": "Invalid data",
        "status": 422,
        "detail": "The data export request is invalid.",
        "invalidFields": [{"field": "dateRange.end", "message": "is required"}, {"field": "format", "message": "bad"}],
    })
    assert text == (
        "Invalid data: The data export request is invalid. "
        "[https://www.rebilly.com/catalog/all/section/errors/invalid-data] — "
        "invalid fields: dateRange.end: is required; format: bad"
    )


def test_limit_problem_shows_the_counts_and_the_remedy():
    text = problem_text({"type": "data-export-limit-exceeded", "title": "Data export limit exceeded",
                         "status": 422, "matchedRecords": 12500000, "maxRecords": 10000000})
    assert text == (
        "Data export limit exceeded [data-export-limit-exceeded] — the export matches 12500000 records, "
        "the limit is 10000000; narrow the date range or filter"
    )


def test_minimal_and_legacy_error_bodies():
    assert problem_text({"title": "Not Found", "type": "about:blank"}) == "Not Found"
    assert problem_text({"status": 401, "error": "Unauthorized"}) == "Unauthorized"
    assert problem_text({"detail": "Only a detail"}) == "Only a detail"
    assert problem_text([1, 2]) is None and problem_text({}) is None


def test_rate_limit_retry_after_as_epoch_seconds_or_iso_timestamp():
    now = 1_713_187_490.0
    assert retry_after_of({"X-RateLimit-Retry-After": "1713187500"}, now=now) == 10.0
    assert retry_after_of({"X-RateLimit-Retry-After": "2024-04-15T13:25:00Z"}, now=now) == 10.0
    assert retry_after_of({"X-RateLimit-Retry-After": "1713187000"}, now=now) == 0.0  # already past
