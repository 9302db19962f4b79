"""A run's timeline: dense rows from a tally's ticks, written compactly, read back, old files."""

from __future__ import annotations

import dataclasses
import json
from time import perf_counter

import pytest

import dbkit.strategies  # noqa: F401  (registers the strategy names the reader checks)
from dbkit.model.results import Result, Run
from dbkit.model.shape import problem_in
from dbkit.model.tally import TICK_S, Tally
from dbkit.model.timeline import Timeline
from tests.helpers import sample_result


def _refusal() -> Exception:
    exc = Exception("sorry, too many clients already")
    exc.sqlstate = "53300"  # type: ignore[attr-defined]
    return exc


def test_build_is_dense_and_sums_to_the_rows() -> None:
    rows = [(0.0, 3, {}), (0.3, 2, {"53300": 4})]
    samples = [(0.02, 5), (0.07, 9), (0.33, 2)]
    tl = Timeline.build(rows, samples, start_s=-0.04, end_s=0.45, interval_s=0.1)
    assert tl.t == (-0.04, 0.06, 0.16, 0.26, 0.36, 0.46)[: len(tl)]
    assert len(tl) == 5  # -0.04 .. 0.45: five intervals
    assert tl.done == (3, 0, 0, 2, 0)
    assert tl.errors == {"53300": (0, 0, 0, 4, 0)}
    assert tl.failed == (0, 0, 0, 4, 0)
    # the most seen within a row, else the nearest sample; none far from every sample
    assert tl.connections[0] == 5 and tl.connections[1] == 9 and tl.connections[3] == 2
    assert tl.throughput()[0] == pytest.approx(30.0)


def test_a_tally_timeline_counts_what_happened_before_the_window_in_its_first_row() -> None:
    tally = Tally()
    tally.refused(_refusal())  # a pool's connection refused while it opened
    tally.t0 -= 0.5  # (as if opened half a second before the window began)
    tally.begin(tally.t0 + 0.5)
    tally.success(tally.t0, tally.t0, 1)
    tally.end()
    rows = tally.timeline()
    assert sum(n for _, n, _ in rows) == 1
    assert sum(e.get("53300", 0) for *_, e in rows) == 1


def test_a_run_with_a_timeline_round_trips_through_json(tmp_path: object) -> None:
    tl = Timeline(
        interval_s=TICK_S,
        t=(-0.02, 0.08),
        done=(3, 1),
        errors={"53300": (2, 0)},
        connections=(4, None),
    )
    base = sample_result()
    runs = (dataclasses.replace(base.runs[1], timeline=tl), base.runs[1])
    doc = json.loads(dataclasses.replace(base, runs=runs).dumps())
    assert problem_in(doc) is None
    assert doc["runs"][0]["timeline"] == {
        "interval_s": 0.1,
        "t": [-0.02, 0.08],
        "done": [3, 1],
        "errors": {"53300": [2, 0]},
        "connections": [4, None],
    }
    assert "timeline" not in doc["runs"][1]  # nothing recorded: nothing written
    back = Result.from_dict(doc)
    assert back.runs[0].timeline == tl
    assert back.runs[1].timeline == Timeline() and not back.runs[1].timeline


def test_files_without_timelines_read_as_empty() -> None:
    doc = sample_result().to_dict()
    for run in doc["runs"]:
        run.pop("timeline", None)
    assert problem_in(doc) is None
    assert all(not run.timeline for run in Result.from_dict(doc).runs)


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("done", [1], "runs[0].timeline.done: 1 entries for 2 intervals"),
        ("errors", {"53300": [1, 2, 3]}, "runs[0].timeline.errors.53300: 3 entries"),
        ("connections", [1, -1], "runs[0].timeline.connections[1]: expected an integer >= 0"),
        ("interval_s", 0, "runs[0].timeline.interval_s: expected a number > 0"),
        ("in_flight", [1], "runs[0].timeline.in_flight: 1 entries for 2 intervals"),
        ("in_flight", [1, -1], "runs[0].timeline.in_flight[1]: expected an integer >= 0"),
        ("pooler", [1, 2, 3], "runs[0].timeline.pooler: 3 entries for 2 intervals"),
    ],
)
def test_a_timeline_that_does_not_line_up_is_refused(key: str, value: object, problem: str) -> None:
    tl = Timeline(
        t=(0.0, 0.1), done=(1, 2), errors={"53300": (0, 1)}, connections=(1, 2), in_flight=(3, 0),
        pooler=(2, None),
    )  # fmt: skip
    run: Run = dataclasses.replace(sample_result().runs[0], timeline=tl)
    doc = dataclasses.replace(sample_result(), runs=(run,)).to_dict()
    doc["runs"][0]["timeline"][key] = value
    found = problem_in(doc)
    assert found is not None and found.startswith(problem), found


def _ending_together(tally: Tally) -> Tally:
    """Three tasks fail and three succeed now (in one interval: retried if a tick boundary
    fell between them); the window began 0.55 s ago."""
    for _ in range(10):
        tally = Tally()
        tally.begin(perf_counter() - 0.55)
        before = perf_counter()
        tally.failure(_refusal(), count=3, arrived=tally.t0)  # arrived at the start
        tally.success(tally.t0 + 0.25, tally.t0 + 0.3, 1)  # arrived 0.25 s in
        tally.success(tally.t0, tally.t0, 1)  # arrived at the start
        quick = perf_counter()
        tally.success(quick, quick, 1)  # arrived and ended in one interval: never in flight
        tally.end()
        if int(before / TICK_S) == int(tally.t_end / TICK_S):  # type: ignore[operator]
            return tally
    raise AssertionError("no ten tries ended within one interval")


def test_tasks_in_flight_are_those_arrived_and_not_yet_ended_at_each_intervals_end() -> None:
    tally = _ending_together(Tally())
    tl = Timeline.of(tally)
    assert len(tl.in_flight) == len(tl) >= 6
    late = int((tally.t0 + 0.25) / TICK_S) - int(tally.t0 / TICK_S)  # the second's arrival row
    ended = len(tl) - 1
    assert list(tl.in_flight) == [4 + (1 if late <= i else 0) for i in range(ended)] + [0]
    assert sum(tl.done) == 3 and sum(tl.failed) == 3


def test_merged_and_shifted_tallies_keep_their_tasks_in_flight() -> None:
    parts = []
    for _ in range(2):
        tally = Tally()
        tally.begin(perf_counter() - 0.35)
        tally.success(tally.t0, tally.t0, 1)  # in flight 0.35 s
        tally.end()
        parts.append(tally)
    parts[1].shift(0.2)  # measured on a clock 0.2 s behind: it arrived and ended 2 ticks later
    tl = Timeline.of(Tally.merged(parts))
    assert max(tl.in_flight) == 2 and tl.in_flight[-1] == 0
    assert tl.in_flight[0] == 1  # the shifted one had not arrived yet


def test_the_poolers_server_connections_are_a_series_of_their_own() -> None:
    tl = Timeline.build(
        [(0.0, 1, {})], [(0.02, 5)], start_s=0.0, end_s=0.25, interval_s=0.1,
        pooler=[(0.01, 3), (0.12, 4)],
    )  # fmt: skip
    assert tl.pooler == (3, 4, 4)
    doc = tl.to_dict()
    assert doc["pooler"] == [3, 4, 4] and "in_flight" not in doc  # no tally: not recorded
    assert Timeline.from_dict(doc) == tl


def test_timelines_from_before_in_flight_and_pooler_read_without_them() -> None:
    doc = {"interval_s": 0.1, "t": [0.0], "done": [1], "errors": {}}
    tl = Timeline.from_dict(doc)
    assert tl.in_flight == () and tl.pooler == ()
    assert tl.to_dict() == doc
