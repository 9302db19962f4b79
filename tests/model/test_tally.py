"""The one tally: what tasks did, recorded and merged alike for a run, --procs and fleets."""

from __future__ import annotations

import pickle
from time import perf_counter

import asyncpg
import pytest

from dbkit.model.tally import TICK_S, Tally


def _refusal() -> asyncpg.TooManyConnectionsError:
    return asyncpg.TooManyConnectionsError("sorry, too many clients already")


def _filled(ok: int, refused: int, cap: int | None = None, seed: int = 0) -> Tally:
    tally = Tally(cap, seed=seed)
    tally.begin()
    for i in range(ok):
        arrived = perf_counter() - 0.01 * (i + 1)
        tally.success(arrived, arrived + 0.001, 2)
    for _ in range(refused):
        tally.failure(_refusal())
    tally.end()
    return tally


def test_merge_sums_counts_and_errors_exactly() -> None:
    parts = [_filled(30, 2), _filled(20, 5), _filled(0, 1)]
    merged = Tally.merged(parts)
    assert (merged.ok, merged.failed, merged.queries_ok) == (50, 8, 100)
    assert len(merged.latencies) == len(merged.waits) == 50  # no part sampled: every one kept
    (record,) = merged.error_records()
    assert (record.sqlstate, record.count, record.tasks_ended) == ("53300", 8, 8)
    assert record.type == "asyncpg.exceptions.TooManyConnectionsError"
    assert merged.t0 == min(p.t0 for p in parts)
    assert merged.t_end == max(p.t_end for p in parts if p.t_end is not None)
    assert sum(merged.ticks.values()) == 50


def test_the_earliest_error_keeps_its_example_and_first_time() -> None:
    late, early = Tally(), Tally()
    early.failure(ValueError("first"))
    late.failure(ValueError("second"))
    merged = Tally.merged([late, early])
    (tally,) = merged.errors.values()
    assert (tally.example, tally.count) == ("first", 2)
    assert tally.first_at == early.errors[("ValueError", None)].first_at


def test_a_capped_tally_keeps_a_uniform_sample_and_exact_counts() -> None:
    tally = _filled(1000, 0, cap=100)
    assert (tally.ok, len(tally.latencies), len(tally.waits)) == (1000, 100, 100)
    # latencies of tasks all over the run: the sample is not only the first hundred
    assert max(tally.latencies) > 5.0


def test_merging_sampled_parts_keeps_the_same_share_of_each() -> None:
    big, small = _filled(1000, 0, cap=100), _filled(100, 0)
    merged = Tally.merged([big, small])
    assert merged.ok == 1100
    assert len(merged.latencies) == 110  # 10 % of each part: a uniform sample of the union
    assert merged.cap == 110  # and it says it is a sample


def test_a_tally_crosses_a_process_boundary_whole() -> None:
    tally = _filled(5, 1)
    tally.on_begin = lambda: None  # a callback stays in the process it was set in
    again = pickle.loads(pickle.dumps(tally))
    assert (again.ok, again.failed, list(again.latencies)) == (5, 1, list(tally.latencies))
    assert again.on_begin is None and again.error_records() == tally.error_records()


def test_what_fails_after_a_fault_mark_is_the_faults() -> None:
    before, after = Tally(), Tally()
    for tally in (before, after):
        tally.failure(ValueError("before"))
        tally.mark_fault()
        tally.failure(_refusal(), count=3)
        tally.fault_over()
    assert before.since_fault() == (3, {"53300": 3})
    merged = Tally.merged([before, after])
    assert merged.since_fault() == (6, {"53300": 6})


def test_the_timeline_counts_completions_and_errors_per_tick() -> None:
    tally = _filled(10, 4)
    rows = tally.timeline()
    assert sum(done for _, done, _ in rows) == 10
    assert sum(errors.get("53300", 0) for _, _, errors in rows) == 4
    assert all(t >= 0 and round(t / TICK_S, 6).is_integer() for t, _, _ in rows)


@pytest.mark.parametrize("parts", [0, 1])
def test_merging_nothing_or_one_part_is_well_formed(parts: int) -> None:
    merged = Tally.merged([_filled(3, 0) for _ in range(parts)])
    assert merged.ok == 3 * parts and merged.t_end is not None


def test_a_tally_shifted_onto_another_clock_reads_the_same_from_its_start() -> None:
    # A Dask worker on another host measures on its own clock; the coordinator shifts its
    # tally onto its own before merging: seconds from the window's start stay what they were.
    tally = _filled(30, 4)
    assert tally.t_end is not None
    before = (tally.timeline(), tally.error_records(), tally.t_end - tally.t0)
    (first,) = (e.first_at for e in tally.errors.values())
    tally.shift(-1234.5)  # a whole number of ticks: the timeline moves exactly
    assert tally.timeline() == before[0]
    assert tally.error_records() == before[1]
    assert tally.t_end is not None and tally.t_end - tally.t0 == pytest.approx(before[2])
    (error,) = tally.errors.values()
    assert error.first_at == pytest.approx(first - 1234.5) and sum(error.ticks.values()) == 4
    assert (tally.ok, tally.failed, sum(tally.ticks.values())) == (30, 4, 30)
