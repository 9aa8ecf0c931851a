"""StreamConfig: the documented defaults and every validation rule, exactly.

The defaults are part of the public contract (README, nightly exports tuned
for them); the validation messages are what a user sees for a bad option.
Each is asserted exactly so that a changed default or a shifted boundary
fails here, not in a production run.
"""

from __future__ import annotations

import dataclasses

import pytest

from streamer.engine.config import StreamConfig
from streamer.http.retry import RetryPolicy
from streamer.http.session import HTTPConfig


def test_defaults_are_the_documented_ones() -> None:
    config = StreamConfig()
    assert config.concurrency == 4
    assert config.ordered is False
    assert config.batch_size == 1000
    assert config.batch_delay == 1.0
    assert config.queue_batches == 8
    assert config.prefetch_batches == 4
    assert config.max_line_bytes == 16 * 1024 * 1024
    assert config.bad_lines == "fail"
    assert config.dead_letter is None
    assert config.check_size is True
    assert config.min_rate_bytes == 1024
    assert config.min_rate_window == 30.0
    assert config.url_refresh_after == 0.8
    assert config.retry == RetryPolicy()
    assert config.http == HTTPConfig()


def test_each_config_gets_its_own_policy_objects() -> None:
    assert StreamConfig().retry is not StreamConfig().retry
    assert StreamConfig().http is not StreamConfig().http


def test_config_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        StreamConfig().concurrency = 2  # type: ignore[misc]


@pytest.mark.parametrize("name", ["concurrency", "batch_size", "queue_batches", "prefetch_batches"])
def test_counts_must_be_at_least_one(name: str) -> None:
    assert getattr(StreamConfig(**{name: 1}), name) == 1  # the boundary is allowed
    with pytest.raises(ValueError) as raised:
        StreamConfig(**{name: 0})
    assert str(raised.value) == f"{name} must be at least 1, not 0"
    with pytest.raises(ValueError) as raised:
        StreamConfig(**{name: -3})
    assert str(raised.value) == f"{name} must be at least 1, not -3"


def test_the_first_bad_count_is_the_one_reported() -> None:
    with pytest.raises(ValueError) as raised:
        StreamConfig(batch_size=0, prefetch_batches=0)
    assert str(raised.value) == "batch_size must be at least 1, not 0"


RATE_MESSAGE = "min_rate_bytes must be at least 0 and min_rate_window more than 0"


def test_min_rate_bounds() -> None:
    off = StreamConfig(min_rate_bytes=0)  # 0 turns the stall check off: allowed
    assert off.min_rate_bytes == 0
    assert StreamConfig(min_rate_window=0.001).min_rate_window == 0.001
    with pytest.raises(ValueError) as raised:
        StreamConfig(min_rate_bytes=-1)
    assert str(raised.value) == RATE_MESSAGE
    with pytest.raises(ValueError) as raised:
        StreamConfig(min_rate_window=0)
    assert str(raised.value) == RATE_MESSAGE
    with pytest.raises(ValueError) as raised:
        StreamConfig(min_rate_window=-5.0)
    assert str(raised.value) == RATE_MESSAGE


def test_max_line_bytes_lower_bound() -> None:
    assert StreamConfig(max_line_bytes=1024).max_line_bytes == 1024
    with pytest.raises(ValueError) as raised:
        StreamConfig(max_line_bytes=1023)
    assert str(raised.value) == "max_line_bytes must be at least 1024"


def test_counts_are_checked_before_rates_and_line_size() -> None:
    with pytest.raises(ValueError) as raised:
        StreamConfig(concurrency=0, min_rate_bytes=-1, max_line_bytes=1)
    assert str(raised.value) == "concurrency must be at least 1, not 0"
    with pytest.raises(ValueError) as raised:
        StreamConfig(min_rate_bytes=-1, max_line_bytes=1)
    assert str(raised.value) == RATE_MESSAGE
