"""The arrival schedule and the loop that hands tasks over on it: counts, spacing, bounds."""

from __future__ import annotations

import asyncio
import itertools
import statistics
from time import perf_counter

import pytest

from dbkit.model.arrivals import last_arrival, schedule
from dbkit.model.spec import RunSpec
from dbkit.model.tally import Tally
from dbkit.strategies import Target, get_strategy
from dbkit.strategies.base import Turns, arrive, hand_over, waves_ideal
from dbkit.strategies.shares import split


def test_a_poisson_schedule_is_its_seeds() -> None:
    first = list(schedule(1000, 5.0, "poisson", 7))
    assert first == list(schedule(1000, 5.0, "poisson", 7))
    assert first != list(schedule(1000, 5.0, "poisson", 8))
    assert len(first) == 1000
    assert first == sorted(first) and first[0] >= 0 and first[-1] < 5.0


def test_poisson_gaps_are_exponential_and_fixed_gaps_even() -> None:
    # An exponential's spread equals its mean; even gaps have none. 10,000 gaps: both means
    # within a few percent of duration / count, whatever the seed.
    times = list(schedule(10_000, 50.0, "poisson", 0))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    mean = statistics.fmean(gaps)
    assert mean == pytest.approx(0.005, rel=0.05)
    assert statistics.stdev(gaps) == pytest.approx(mean, rel=0.1)
    fixed = list(schedule(10_000, 50.0, "fixed", 0))
    assert fixed[:3] == pytest.approx([0.0, 0.005, 0.010])
    assert fixed[-1] == pytest.approx(49.995) and len(fixed) == 10_000


def test_fixed_schedules_of_consecutive_seeds_interleave() -> None:
    # --procs gives its shares consecutive seeds: their even gaps are shifted, not stacked.
    starts = [next(schedule(10, 1.0, "fixed", seed)) for seed in range(3)]
    assert starts[0] == 0.0 and len({round(s, 6) for s in starts}) == 3
    assert all(0 <= s < 0.1 for s in starts)


def test_the_last_arrival_bounds_the_ideal() -> None:
    spec = RunSpec("pool", rate=100, duration=2, arrivals="fixed", queries=1, hold=0.01)
    assert last_arrival(200, 2.0, "fixed", 0) == pytest.approx(1.99)
    assert waves_ideal(spec, 20) == pytest.approx(1.99 + 0.01)  # the last task, once served
    assert waves_ideal(spec, 1) == pytest.approx(200 * 0.01)  # a pool of one: its waves


async def _arrive(offsets: list[float], hold: float) -> list[tuple[float, float, float]]:
    started: list[tuple[float, float, float]] = []  # (planned, started, ended)

    async def task(at: float) -> None:
        began = perf_counter()
        await asyncio.sleep(hold)
        started.append((at, began, perf_counter()))

    t0 = perf_counter()
    await arrive(offsets, t0, task)
    return [(at - t0, began - t0, end - t0) for at, began, end in started]


def test_arrive_starts_each_task_at_its_time_and_waits_for_all() -> None:
    offsets = [0.0, 0.02, 0.02, 0.05, 0.1]
    done = asyncio.run(_arrive(offsets, 0.05))
    assert len(done) == len(offsets)  # every one ran to its end before arrive returned
    assert sorted(at for at, _, _ in done) == pytest.approx(offsets)
    for at, began, ended in done:
        assert began >= at  # never before its arrival: stamped with the planned time
        assert ended - began >= 0.05
    # open loop: the second arrival did not wait for the first to finish
    assert sorted(began for _, began, _ in done)[1] < 0.05


def test_arrive_after_ctrl_c_cancels_what_is_in_flight() -> None:
    ended: list[float] = []

    async def task(at: float) -> None:
        try:
            await asyncio.sleep(10)
        finally:
            ended.append(at)

    async def main() -> None:
        work = asyncio.ensure_future(arrive([0.0, 0.0, 5.0], perf_counter(), task))
        await asyncio.sleep(0.05)
        work.cancel()
        with pytest.raises(asyncio.CancelledError):
            await work

    asyncio.run(main())
    assert len(ended) == 2  # both in flight were cancelled and waited for; the third never came


def test_turns_run_batches_one_after_another() -> None:
    log: list[tuple[str, int]] = []

    async def main() -> None:
        turns = Turns(2, 5)

        async def task(at: float) -> None:
            n = round(at * 1000)  # the arrival's number, from its time
            log.append(("start", n))
            await asyncio.sleep(0.01 * (3 - n % 3))  # the first of a batch ends last
            log.append(("end", n))

        # Five arrivals at once (their times long past): batches 0-1, then 2-3, then 4.
        await arrive([i / 1000 for i in range(5)], 0.0, turns.of(task))

    asyncio.run(main())
    position = {event: i for i, event in enumerate(log)}
    assert len(log) == 10
    for batch, later in (((0, 1), (2, 3)), ((2, 3), (4,))):
        assert max(position["end", n] for n in batch) < min(position["start", n] for n in later)


def test_an_open_loop_sleep_run_records_every_arrival_from_its_arrival() -> None:
    for mode in ("unbatched", "batched"):
        spec = RunSpec("sleep", rate=400, duration=0.5, mode=mode, queries=1, hold=0.01)
        rec = Tally()
        asyncio.run(get_strategy("sleep").execute(spec, Target(None, "t"), rec))
        assert rec.ok == spec.tasks == 200
        assert rec.t_end is not None and rec.t_end - rec.t0 >= last_arrival(200, 0.5, "poisson", 0)
        assert min(rec.latencies) >= 0.01  # each from its own arrival, never before
        if mode == "unbatched":  # nothing makes a task wait but the loop's own lateness
            assert statistics.median(rec.waits) < statistics.median(rec.latencies)


def test_hand_over_a_burst_arrives_at_the_windows_start() -> None:
    seen: list[float] = []

    async def task(at: float) -> None:
        seen.append(at)

    rec = Tally()
    rec.begin()
    asyncio.run(hand_over(RunSpec("pool", tasks=7), rec, task))
    assert seen == [rec.t0] * 7


def test_procs_share_the_rate_as_they_share_tasks() -> None:
    spec = RunSpec("pool", rate=200, duration=5, pool_size=5, procs=2)
    parts = split(spec, 2)
    assert [p.tasks for p in parts] == [600, 400]  # tasks follow the pool's 3 + 2
    assert sum(p.tasks for p in parts) == spec.tasks
    assert sum(p.rate or 0 for p in parts) == pytest.approx(200)
    assert [p.duration for p in parts] == [5, 5] and [p.seed for p in parts] == [0, 1]
