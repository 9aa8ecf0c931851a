"""A seeded random fault schedule: drops, 5xx/429, servers ignoring Range,
gzip both ways, and a crash mid-run with resume — every record exactly once.

The schedule is a pure function of the seed.  A failure prints the seed;
rerun exactly that schedule with ``STREAMER_FAULT_SEED=<seed> pytest
tests/faults/test_seeded_schedule.py``.  Besides a few fixed seeds, each run
tries one fresh seed, so CI keeps exploring new schedules.  Every schedule
crashes (at a write that surely comes, after at least one acknowledged
batch) and the test asserts that it did: a seed that never crashes would
test no resume at all.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import orjson
import pytest

from streamer import JsonlSink, RetryPolicy, StreamConfig, run
from streamer.simulator import FaultPlan, Simulator
from streamer.state import JsonFileStateStore
from tests.support.faults import (
    DyingFileSink,
    SimSource,
    SinkDied,
    assert_exactly_once,
    expected_ids,
    ids_in_file,
)

pytestmark = [pytest.mark.faults, pytest.mark.timeout(60)]

FIXED_SEEDS = [1, 7, 42, 2026]


def _seeds() -> list[int]:
    chosen = os.environ.get("STREAMER_FAULT_SEED")
    if chosen:
        return [int(chosen)]
    return [*FIXED_SEEDS, random.SystemRandom().randrange(1, 2**31)]


@dataclass
class Schedule:
    seed: int
    entities: list[tuple[str, int, int, bool]]  # (entity type, records, parts, gzip)
    content_encoding: bool
    drops_per_part: int
    error_rate: float
    throttle_rate: float
    drop_rate: float
    ignore_range: bool
    concurrency: int
    batch_size: int
    ordered: bool
    crash_at: int
    crash_after_write: bool
    flush_interval: float

    @classmethod
    def from_seed(cls, seed: int) -> Schedule:
        rng = random.Random(seed)
        entities = [
            (entity, rng.randrange(200, 2500), rng.randrange(1, 4), rng.random() < 0.4)
            for entity in rng.sample(["OrderItem", "Payment", "Reservation", "Customer"], rng.randrange(1, 4))
        ]
        if sum(parts for _, _, parts, _ in entities) == 1:  # two parts at least: the crash surely comes
            entity, records, _, gz = entities[0]
            entities[0] = (entity, records, 2, gz)
        content_encoding = rng.random() < 0.3
        drops_per_part = rng.randrange(0, 4)
        error_rate = rng.choice([0.0, 0.1, 0.25])
        throttle_rate = rng.choice([0.0, 0.1, 0.2])
        drop_rate = rng.choice([0.0, 0.02, 0.05])
        ignore_range = rng.random() < 0.2
        concurrency = rng.randrange(1, 6)
        return cls(
            seed=seed,
            entities=entities,
            content_encoding=content_encoding,
            drops_per_part=drops_per_part,
            error_rate=error_rate,
            throttle_rate=throttle_rate,
            drop_rate=drop_rate,
            ignore_range=ignore_range,
            concurrency=concurrency,
            batch_size=rng.choice([1, 37, 100, 500]),
            ordered=rng.random() < 0.3,
            crash_at=rng.randrange(2, 12),  # or at the first part end from the second write on
            crash_after_write=rng.random() < 0.5,
            flush_interval=rng.choice([0.0, 0.05, 3600.0]),
        )


@pytest.mark.parametrize("seed", _seeds())
async def test_random_fault_schedule_with_crash_and_resume(tmp_path, seed):
    schedule = Schedule.from_seed(seed)
    try:
        await _run_schedule(tmp_path, schedule)
    except BaseException as exc:
        note = f"fault schedule seed {seed} (rerun: STREAMER_FAULT_SEED={seed}): {schedule}"
        print(note)
        exc.add_note(note)
        raise


async def _run_schedule(tmp_path, s: Schedule) -> None:
    rng = random.Random(s.seed ^ 0x5EED)
    faults = FaultPlan(
        seed=s.seed,
        error_rate=s.error_rate,
        throttle_rate=s.throttle_rate,
        retry_after=0.0,
        drop_rate=s.drop_rate,
        ignore_range=s.ignore_range,
    )
    config = StreamConfig(
        concurrency=s.concurrency,
        batch_size=s.batch_size,
        ordered=s.ordered,
        retry=RetryPolicy(max_attempts=40, initial_delay=0.002, max_delay=0.02, jitter=0.002),
    )
    out, state = tmp_path / "out.jsonl", tmp_path / "state.json"
    async with Simulator(seed=s.seed, faults=faults, content_encoding=s.content_encoding) as sim:
        exports = [
            sim.add_export(entity, records=records, parts=parts, gzip=gz)
            for entity, records, parts, gz in s.entities
        ]
        for export in exports:
            for i in range(len(export.files)):
                encoded = export.gzip or s.content_encoding  # drops count bytes on the wire
                size = export.files[i].gzip_size if encoded else export.file_size(i)
                if size > 2 and s.drops_per_part:
                    faults.drop_at[f"{export.id}/{i}"] = rng.sample(range(1, size - 1), s.drops_per_part)
        dying = DyingFileSink(out, die_at=s.crash_at, after_write=s.crash_after_write, die_by_part_end=True)
        with pytest.raises(SinkDied):  # every schedule crashes: a run that never does proves no resume
            await run(SimSource(sim, exports), dying, config=config,
                      state=JsonFileStateStore(state, flush_interval=s.flush_interval))
        assert 2 <= dying.writes <= s.crash_at
        acknowledged = _acknowledged(state)
        assert acknowledged, f"seed {s.seed}: nothing was acknowledged before the crash"
        committed = ids_in_file(out)  # the sink is rolled back to its mark when the run resumes
        await run(SimSource(sim, exports), JsonlSink(out), config=config,
                  state=JsonFileStateStore(state, flush_interval=s.flush_interval))
    delivered = ids_in_file(out)
    assert_exactly_once(delivered, expected_ids(exports), f"seed {s.seed}")
    # the records acknowledged before the crash were kept, not fetched again
    kept = sum(acknowledged.values())
    assert 0 < kept <= len(committed) and delivered[:kept] == committed[:kept]


def _acknowledged(state) -> dict[str, int]:
    """Lines acknowledged per part in the state file a crashed run left (parts with none left out)."""
    parts = orjson.loads(state.read_bytes())["parts"]
    return {key: entry["line"] for key, entry in parts.items() if entry["line"] > 0}
