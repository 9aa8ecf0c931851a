"""The error a failed run reports: the first real one, out of anyio's exception groups.

A run's tasks live in nested task groups; when one fails, the others are
cancelled and anyio raises a (nested) ``BaseExceptionGroup`` holding the
failure and the cancellations.  The user must see the failure itself, once,
with its cause: not a group, not a ``CancelledError``, not the second error.
"""

from __future__ import annotations

import asyncio

import pytest

from streamer.engine.config import StreamConfig
from streamer.engine.runner import _first_error, _record_at, run_export
from streamer.errors import DecodeError
from streamer.records import Batch, Checkpoint, PartInfo, Record
from streamer.simulator import Simulator
from tests.support.faults import SimSource


async def test_a_plain_error_is_returned_as_it_is() -> None:
    error = ValueError("boom")
    assert _first_error(error) is error


async def test_a_cancellation_is_skipped_for_the_real_error() -> None:
    real = ValueError("real")
    group = BaseExceptionGroup("g", [asyncio.CancelledError(), real])
    assert _first_error(group) is real


async def test_the_first_of_two_real_errors_wins() -> None:
    first, second = ValueError("first"), KeyError("second")
    assert _first_error(BaseExceptionGroup("g", [first, second])) is first
    assert _first_error(BaseExceptionGroup("g", [asyncio.CancelledError(), first, second])) is first


async def test_a_group_of_only_cancellations_gives_the_first_cancellation() -> None:
    first, second = asyncio.CancelledError("first"), asyncio.CancelledError("second")
    assert _first_error(BaseExceptionGroup("g", [first, second])) is first


async def test_nested_groups_are_unwrapped_to_the_leaf() -> None:
    real = OSError("disk full")
    inner = BaseExceptionGroup("inner", [asyncio.CancelledError(), real])
    outer = BaseExceptionGroup("outer", [asyncio.CancelledError(), inner])
    assert _first_error(outer) is real


async def test_a_group_is_chosen_over_a_cancellation_and_then_unwrapped() -> None:
    real = RuntimeError("inside")
    outer = BaseExceptionGroup("outer", [asyncio.CancelledError(), BaseExceptionGroup("inner", [real])])
    assert _first_error(outer) is real


class _FailingSink:
    """A sink whose second write fails with an error that has a cause."""

    def __init__(self) -> None:
        self.writes = 0
        self.closed_with: BaseException | None | str = "not closed"

    async def open(self) -> None:
        return None

    async def write(self, batch: Batch) -> None:
        self.writes += 1
        if self.writes == 2:
            try:
                raise KeyError("the cause")
            except KeyError as cause:
                raise ValueError("sink broke") from cause

    async def close(self, error: BaseException | None) -> None:
        self.closed_with = error


async def test_run_export_raises_the_sinks_error_itself_with_its_cause(sim: Simulator) -> None:
    export = sim.add_export("OrderItem", records=600, parts=3)
    sink = _FailingSink()
    with pytest.raises(ValueError) as raised:
        await run_export(SimSource(sim, [export]), sink, config=StreamConfig(batch_size=100, concurrency=2))
    assert type(raised.value) is ValueError  # not an exception group
    assert str(raised.value) == "sink broke"
    assert isinstance(raised.value.__cause__, KeyError)
    assert raised.value.__cause__.args == ("the cause",)
    assert sink.writes == 2
    assert sink.closed_with is raised.value  # the sink is told which error ended the run


def test_a_sink_decode_error_points_at_the_record_with_its_offset_and_line() -> None:
    info = PartInfo(source="test", index=0, entity_type="OrderItem", export_id="exp")
    records = [Record({"Id": str(i)}, info, i, i * 100) for i in range(1, 4)]
    batch = Batch(records, info, Checkpoint(info.key, 300, 3))

    def error(line: int, offset: int) -> DecodeError:
        return DecodeError("1e400", part=info.describe(), line=line, offset=offset)

    assert _record_at(batch, error(2, 200)) is records[1]
    assert _record_at(batch, error(2, 300)) is None  # the line of one record, the offset of another
    assert _record_at(batch, error(3, 200)) is None
    assert _record_at(batch, error(9, 900)) is None  # none of this batch

